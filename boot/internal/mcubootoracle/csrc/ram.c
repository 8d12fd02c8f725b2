/*
 * The executable RAM region of MCUBOOT_RAM_LOAD, as MCUboot's simulator
 * supplies it (bootsim_get_ram_info): a buffer the test sizes, whose
 * address is offset so that IMAGE_RAM_BASE + an image's load address lands
 * inside it. Compiled only into the RAM-load configurations.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bootsim_ram_info {
    uint32_t start;
    uint32_t size;
    uintptr_t base;
};

static struct bootsim_ram_info ram_info;
static uint8_t *ram_buf;

struct bootsim_ram_info *bootsim_get_ram_info(void) { return &ram_info; }

/* oracle_set_ram makes the region [start, start+size) and clears it. */
int oracle_set_ram(uint32_t start, uint32_t size)
{
    free(ram_buf);
    ram_buf = calloc(size, 1);
    if (ram_buf == NULL) {
        return -1;
    }
    ram_info.start = start;
    ram_info.size = size;
    ram_info.base = (uintptr_t)ram_buf - start;
    return 0;
}

/* oracle_ram copies the region out (out == NULL: clears it). */
void oracle_ram(uint8_t *out)
{
    if (ram_buf == NULL) {
        return;
    }
    if (out == NULL) {
        memset(ram_buf, 0, ram_info.size);
    } else {
        memcpy(out, ram_buf, ram_info.size);
    }
}
