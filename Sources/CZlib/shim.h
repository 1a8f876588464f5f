#ifndef LOSSCLI_CZLIB_SHIM_H
#define LOSSCLI_CZLIB_SHIM_H
#include <zlib.h>
#endif
