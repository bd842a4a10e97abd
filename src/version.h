/* version.h: ember's version and the Firecracker API version it implements. */
#ifndef EMBER_VERSION_H
#define EMBER_VERSION_H

#define EMBER_VERSION     "0.1.0"
#define EMBER_API_VERSION "1.16.1"   /* the Firecracker API contract ember follows */

#endif
