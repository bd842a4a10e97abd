/* cfg_err.h: the message carrier of the config parsers and the API (a client-facing text). */
#ifndef EMBER_CFG_ERR_H
#define EMBER_CFG_ERR_H

#define CFG_ERR_MAX        256

/* A message for the API client or the config-file user. */
struct cfg_err {
	char msg[CFG_ERR_MAX];
};

#endif
