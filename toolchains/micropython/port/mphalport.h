// The HAL this port needs: a ticks source from WASI's monotonic clock, no interrupt character.
mp_uint_t mp_hal_ticks_ms(void);
static inline void mp_hal_set_interrupt_char(char c) { (void)c; }
// No pins: defining the pin type keeps py/mphal.h from including extmod/virtpin.h (not in the sdist).
#define mp_hal_pin_obj_t void *
