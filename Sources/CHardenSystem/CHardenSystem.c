// harden — small C helpers for macros Swift cannot import.
#include "CHardenSystem.h"
#include <sys/sysmacros.h>

dev_t harden_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int harden_major(dev_t dev) { return major(dev); }
unsigned int harden_minor(dev_t dev) { return minor(dev); }
