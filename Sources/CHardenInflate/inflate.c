// harden — see harden_inflate.h. libisal is opened with dlopen so that neither the build nor the machine needs it.
#include "harden_inflate.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include <stdio.h>

#if __has_include(<isa-l/igzip_lib.h>) && __has_include(<isa-l.h>)
#include <isa-l.h>
#include <isa-l/igzip_lib.h>
#define HARDEN_HAVE_ISAL 1
#endif

#ifdef HARDEN_HAVE_ISAL
struct harden_isal {
    struct inflate_state state;
    int crc_flag;
};

static void (*p_init)(struct inflate_state *);
static void (*p_reset)(struct inflate_state *);
static int (*p_inflate)(struct inflate_state *);
static const char *loaded_version;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    if (getenv("HARDEN_INFLATE") && getenv("HARDEN_INFLATE")[0] == 'z') return;  // HARDEN_INFLATE=zlib
    void *h = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    p_init = (void (*)(struct inflate_state *))dlsym(h, "isal_inflate_init");
    p_reset = (void (*)(struct inflate_state *))dlsym(h, "isal_inflate_reset");
    p_inflate = (int (*)(struct inflate_state *))dlsym(h, "isal_inflate");
    if (p_init && p_reset && p_inflate) {
        loaded_version = "2";
#if defined(ISAL_MAJOR_VERSION) && defined(ISAL_MINOR_VERSION) && defined(ISAL_PATCH_VERSION)
        static char v[32];
        snprintf(v, sizeof v, "%d.%d.%d", ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION, ISAL_PATCH_VERSION);
        loaded_version = v;
#endif
    }
}

const char *harden_isal_version(void) {
    pthread_once(&once, load);
    return loaded_version;
}

harden_isal *harden_isal_new_format(int format) {
    if (!harden_isal_version()) return NULL;
    harden_isal *d = malloc(sizeof *d);
    if (!d) return NULL;
    d->crc_flag = format == HARDEN_INFLATE_RAW ? ISAL_DEFLATE : format == HARDEN_INFLATE_ZLIB ? ISAL_ZLIB : ISAL_GZIP;
    p_init(&d->state);
    d->state.crc_flag = d->crc_flag;
    return d;
}

harden_isal *harden_isal_new(void) { return harden_isal_new_format(HARDEN_INFLATE_GZIP); }

void harden_isal_free(harden_isal *d) { free(d); }

void harden_isal_reset(harden_isal *d) {
    p_reset(&d->state);
    d->state.crc_flag = d->crc_flag;
}

int harden_isal_inflate(harden_isal *d, const uint8_t **in, size_t *avail_in, uint8_t **out, size_t *avail_out) {
    struct inflate_state *s = &d->state;
    s->next_in = (uint8_t *)*in;
    s->avail_in = *avail_in > UINT32_MAX ? UINT32_MAX : (uint32_t)*avail_in;
    s->next_out = *out;
    s->avail_out = *avail_out > UINT32_MAX ? UINT32_MAX : (uint32_t)*avail_out;
    uint32_t in_before = s->avail_in, out_before = s->avail_out;
    int r = p_inflate(s);
    *in += in_before - s->avail_in;
    *avail_in -= in_before - s->avail_in;
    *out += out_before - s->avail_out;
    *avail_out -= out_before - s->avail_out;
    if (r < 0) return r;
    return s->block_state == ISAL_BLOCK_FINISH ? 1 : 0;
}

const char *harden_isal_error(int code) {
    switch (code) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_NEED_DICT: return "a preset dictionary is needed";
    default: return "inflate error";
    }
}
#else
const char *harden_isal_version(void) { return NULL; }
harden_isal *harden_isal_new(void) { return NULL; }
harden_isal *harden_isal_new_format(int format) { (void)format; return NULL; }
void harden_isal_free(harden_isal *d) { (void)d; }
void harden_isal_reset(harden_isal *d) { (void)d; }
int harden_isal_inflate(harden_isal *d, const uint8_t **in, size_t *avail_in, uint8_t **out, size_t *avail_out) {
    (void)d; (void)in; (void)avail_in; (void)out; (void)avail_out;
    return -100;
}
const char *harden_isal_error(int code) { (void)code; return "ISA-L is not available"; }
#endif
