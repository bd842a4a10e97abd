/* uart.h: polled 8250/16550 UART on COM1, the guest's console. */
#ifndef GUEST_UART_H
#define GUEST_UART_H

#define UART_COM1 0x3f8

/* Program COM1 for 115200 8N1 with interrupts off. */
void uart_init(void);

/* Send one byte, waiting for THR empty first (LSR bit 5). */
void uart_putc(char c);

#endif
