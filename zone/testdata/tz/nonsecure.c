/* Minimal Non-secure image: calls a Secure function through its NSC veneer, then
 * reads Secure memory, which must fault into the Secure world. */
#include "mem_layout.h"

extern unsigned int __StackTop;
int secure_add(int a, int b); /* from the Secure image's import library */

static void puts_(const char *s)
{
  register int r0 __asm("r0") = 0x04;
  register const char *r1 __asm("r1") = s;
  __asm volatile ("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

void NS_Reset_Handler(void)
{
  if (secure_add(40, 2) == 42) {
    puts_("non-secure: secure_add(40, 2) = 42 through the NSC veneer\n");
  }
  puts_("non-secure: reading secure memory at REGION_DATA_S_START\n");
  volatile unsigned int v = *(volatile unsigned int *)REGION_DATA_S_START;
  (void)v;
  puts_("non-secure: the read did not fault\n");
  for (;;) { }
}

void NS_Default_Handler(void) { for (;;) { } }

__attribute__((section(".vectors"), used))
static const void *const vectors[16] = {
  &__StackTop, NS_Reset_Handler, NS_Default_Handler, NS_Default_Handler, NS_Default_Handler,
  NS_Default_Handler, NS_Default_Handler, 0, 0, 0, 0, NS_Default_Handler, NS_Default_Handler, 0,
  NS_Default_Handler, NS_Default_Handler,
};
