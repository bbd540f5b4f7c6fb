/* realprune/clock.h - monotonic wall-clock seconds, for timing runs. */
#ifndef REALPRUNE_CLOCK_H
#define REALPRUNE_CLOCK_H

/* Seconds since an arbitrary fixed point; never goes backwards. */
double rp_clock(void);

#endif
