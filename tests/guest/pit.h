/* pit.h: the i8254 PIT channel 0 as time base and as the periodic tick source. */
#ifndef GUEST_PIT_H
#define GUEST_PIT_H

#include <stdbool.h>
#include <stdint.h>

#define PIT_HZ 1193182u

/*
 * Start channel 0 as a rate generator (mode 2) with the given divisor
 * (0 = 65536) and check that it counts. Returns false if no PIT answers;
 * then pit_now_us() is an estimate from loop counts only.
 */
bool pit_start(uint32_t divisor);

/* True if the last pit_start() saw the counter move. */
bool pit_available(void);

/*
 * Microseconds since pit_start(). Must be called at least once per PIT
 * period (55 ms at divisor 0) to see every wrap of the counter, which the
 * busy-wait loops using it do.
 */
uint64_t pit_now_us(void);

/* Busy-wait for at least us microseconds. */
void pit_delay_us(uint64_t us);

#endif
