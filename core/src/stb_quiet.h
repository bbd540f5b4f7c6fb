/* stb_quiet.h - GCC's warnings off around Debian's stb headers, which are
 * third-party code compiled into the core (internal). */
#ifndef REALPRUNE_STB_QUIET_H
#define REALPRUNE_STB_QUIET_H

#if defined(__GNUC__)
#define RP_STB_BEGIN                                                                               \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wsign-compare\"")            \
        _Pragma("GCC diagnostic ignored \"-Wunused-but-set-variable\"")                            \
            _Pragma("GCC diagnostic ignored \"-Wunused-function\"")                                \
                _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")                 \
                    _Pragma("GCC diagnostic ignored \"-Wimplicit-fallthrough\"")
#define RP_STB_END _Pragma("GCC diagnostic pop")
#else
#define RP_STB_BEGIN
#define RP_STB_END
#endif

#endif
