/***
 * realprune/clock.h - monotonic wall-clock seconds, for timing runs.
 * @module core.clock
 */
#ifndef REALPRUNE_CLOCK_H
#define REALPRUNE_CLOCK_H

/*** Seconds since an arbitrary fixed point; never goes backwards.
 * @function rp_clock */
double rp_clock(void);

#endif
