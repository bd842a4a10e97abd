/* log_level.h: the logger's levels, shared by the logger and the configuration model. */
#ifndef EMBER_LOG_LEVEL_H
#define EMBER_LOG_LEVEL_H

enum log_level {
	LOG_LEVEL_OFF = 0,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_TRACE,
};

#endif
