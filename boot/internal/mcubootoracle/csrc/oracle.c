/*
 * Rampart's glue around MCUboot's simulator support (run.c), compiled at
 * test time into a shared library together with MCUboot's bootutil from the
 * vendor tree (never copied into the project). It supplies what MCUboot's
 * Rust simulator normally exports: the flash callbacks (forwarded to
 * function pointers the Go side sets, which operate on Rampart's flash
 * model), the flash-area and context registers, logging, and the
 * provisioned public key, filled at run time.
 */
#include "run.c"

#include <bootutil/sign_key.h>

typedef int (*oracle_read_fn)(uintptr_t h, uint32_t off, uint8_t *dst, uint32_t n);
typedef int (*oracle_write_fn)(uintptr_t h, uint32_t off, const uint8_t *src, uint32_t n);
typedef int (*oracle_erase_fn)(uintptr_t h, uint32_t off, uint32_t n);

static struct {
    oracle_read_fn read;
    oracle_write_fn write;
    oracle_erase_fn erase;
    uintptr_t handle;
    uint32_t align;
    uint8_t erased;
    int log_level;
} cb;

static struct area_desc *cur_areas;
static struct sim_context *cur_ctx;

struct area_desc *sim_get_flash_areas(void) { return cur_areas; }
void sim_set_flash_areas(struct area_desc *a) { cur_areas = a; }
void sim_reset_flash_areas(void) { cur_areas = NULL; }
struct sim_context *sim_get_context(void) { return cur_ctx; }
void sim_set_context(struct sim_context *c) { cur_ctx = c; }
void sim_reset_context(void) { cur_ctx = NULL; }

int sim_flash_erase(uint8_t id, uint32_t off, uint32_t size) { (void)id; return cb.erase(cb.handle, off, size); }
int sim_flash_read(uint8_t id, uint32_t off, uint8_t *dst, uint32_t size) { (void)id; return cb.read(cb.handle, off, dst, size); }
int sim_flash_write(uint8_t id, uint32_t off, const uint8_t *src, uint32_t size) { (void)id; return cb.write(cb.handle, off, src, size); }
uint32_t sim_flash_align(uint8_t id) { (void)id; return cb.align; }
uint8_t sim_flash_erased_val(uint8_t id) { (void)id; return cb.erased; }
int sim_log_enabled(int level) { return level <= cb.log_level; }

#ifdef ORACLE_ASN1_ONLY
/* MCUboot's bundled ASN.1 parser is configured without mbedTLS's platform.c. */
void *mbedtls_calloc(size_t n, size_t size) { return calloc(n, size); }
void mbedtls_free(void *p) { free(p); }
#endif

/* The NV security counters of MCUBOOT_HW_ROLLBACK_PROT (csupport/security_cnt.c). */
static uint32_t nv_counters[16];

int sim_set_nv_counter_for_image(uint32_t image_index, uint32_t value)
{
    if (image_index >= 16) {
        return -1;
    }
    nv_counters[image_index] = value;
    return 0;
}

int sim_get_nv_counter_for_image(uint32_t image_index, uint32_t *value)
{
    if (image_index >= 16) {
        return -1;
    }
    *value = nv_counters[image_index];
    return 0;
}

/* oracle_counters copies n counters in from in (when not NULL) or out to out. */
void oracle_counters(const uint32_t *in, uint32_t *out, int n)
{
    int i;

    for (i = 0; i < n && i < 16; i++) {
        if (in != NULL) {
            nv_counters[i] = in[i];
        }
        if (out != NULL) {
            out[i] = nv_counters[i];
        }
    }
}

/* The provisioned key: one DER SubjectPublicKeyInfo set by the test. */
static uint8_t key_buf[1024];
static unsigned int key_len;
const struct bootutil_key bootutil_keys[] = {{.key = key_buf, .len = &key_len}};
const int bootutil_key_cnt = 1;

int oracle_set_key(const uint8_t *der, unsigned int n)
{
    if (n > sizeof(key_buf)) {
        return -1;
    }
    memcpy(key_buf, der, n);
    key_len = n;
    return 0;
}

#ifdef MCUBOOT_ENC_IMAGES
/* The device's private decrypt key: PKCS#8 DER (PKCS#1 for RSA), set by the test. */
static uint8_t enc_key_buf[4096];
static unsigned int enc_key_len;
const struct bootutil_key bootutil_enc_key = {.key = enc_key_buf, .len = &enc_key_len};
#endif

int oracle_set_enc_key(const uint8_t *der, unsigned int n)
{
#ifdef MCUBOOT_ENC_IMAGES
    if (n > sizeof(enc_key_buf)) {
        return -1;
    }
    memcpy(enc_key_buf, der, n);
    enc_key_len = n;
    return 0;
#else
    (void)der;
    (void)n;
    return -1;
#endif
}

void oracle_set_flash(oracle_read_fn r, oracle_write_fn w, oracle_erase_fn e, uintptr_t h,
                      uint32_t align, uint8_t erased, int log_level)
{
    cb.read = r;
    cb.write = w;
    cb.erase = e;
    cb.handle = h;
    cb.align = align;
    cb.erased = erased;
    cb.log_level = log_level;
}

/* What oracle_boot returns for a layout it cannot hold. */
#define ORACLE_EREFUSED (-0x2468)

/*
 * oracle_boot runs one boot. areas lists (id, offset, size) triples and
 * sectors the sector sizes of each area in order (nsec[i] of them for area
 * i). cut > 0 makes the cut-th write or erase fail as a power cut (MCUboot's
 * simulator's flash_counter). Returns boot_go's result, or -0x13579 after a
 * power cut; *image_off gets the offset of the image to run.
 */
int oracle_boot(int nareas, const uint32_t *areas, const uint32_t *nsec, const uint32_t *sectors,
                int cut, uint32_t *image_off, int *ops)
{
    static struct area_desc desc;
    static struct flash_area secs[16][512];
    struct sim_context ctx;
    struct boot_rsp rsp;
    int i, j, k = 0, rc;

    memset(&desc, 0, sizeof(desc));
    memset(&ctx, 0, sizeof(ctx));
    memset(&rsp, 0, sizeof(rsp));
    if (nareas > 16) {
        return ORACLE_EREFUSED;
    }
    for (i = 0; i < nareas; i++) {
        struct area *a = &desc.slots[i];
        uint32_t off = areas[3 * i + 1];
        if (nsec[i] > 512) {
            return ORACLE_EREFUSED;
        }
        a->id = (uint8_t)areas[3 * i];
        a->whole.fa_id = a->id;
        a->whole.fa_device_id = 0;
        a->whole.fa_off = off;
        a->whole.fa_size = areas[3 * i + 2];
        a->areas = secs[i];
        a->num_areas = nsec[i];
        for (j = 0; j < (int)nsec[i]; j++, k++) {
            secs[i][j].fa_id = a->id;
            secs[i][j].fa_device_id = 0;
            secs[i][j].fa_off = off;
            secs[i][j].fa_size = sectors[k];
            off += sectors[k];
        }
    }
    desc.num_slots = (uint32_t)nareas;
    ctx.flash_counter = cut;
    rc = invoke_boot_go(&ctx, &desc, &rsp, -1);
    *image_off = rsp.br_image_off;
    *ops = cut > 0 ? cut - ctx.flash_counter : -ctx.flash_counter;
    return rc;
}
