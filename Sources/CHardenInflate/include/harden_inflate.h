// harden — ISA-L's inflate (Intel's Intelligent Storage Acceleration Library) behind a small C interface, loaded at
// run time: present when the build found <isa-l/igzip_lib.h> and the machine has libisal.so.2; else zlib is used.
#ifndef HARDEN_INFLATE_H
#define HARDEN_INFLATE_H
#include <stddef.h>
#include <stdint.h>

typedef struct harden_isal harden_isal;

/// The ISA-L version string ("2.30.0") when its inflate can be used, else NULL.
const char *harden_isal_version(void);
/// A gzip decoder (NULL when ISA-L is not available or memory runs out).
harden_isal *harden_isal_new(void);
/// Wrappers a decoder can read: raw deflate (zip entries), zlib (RFC 1950), gzip (RFC 1952, one member at a time).
enum { HARDEN_INFLATE_RAW = 0, HARDEN_INFLATE_ZLIB = 1, HARDEN_INFLATE_GZIP = 2 };
/// A decoder for one of those wrappers (NULL when ISA-L is not available or memory runs out).
harden_isal *harden_isal_new_format(int format);
void harden_isal_free(harden_isal *d);
/// Starts the next stream (the next gzip member), in the same wrapper.
void harden_isal_reset(harden_isal *d);
/// Decodes from *in (avail_in bytes) into *out (avail_out bytes), advancing both. Returns 0 when more can follow,
/// 1 at the end of a gzip member (its CRC checked), or a negative ISA-L error.
int harden_isal_inflate(harden_isal *d, const uint8_t **in, size_t *avail_in, uint8_t **out, size_t *avail_out);
/// The one-line meaning of a negative result.
const char *harden_isal_error(int code);
#endif
