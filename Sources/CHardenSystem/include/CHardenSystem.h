// harden — small C helpers for macros Swift cannot import.
#ifndef C_HARDEN_SYSTEM_H
#define C_HARDEN_SYSTEM_H
#include <sys/types.h>
#include <sys/xattr.h>

dev_t harden_makedev(unsigned int major, unsigned int minor);
unsigned int harden_major(dev_t dev);
unsigned int harden_minor(dev_t dev);

#endif
