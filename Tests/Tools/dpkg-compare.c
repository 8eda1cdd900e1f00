/* harden test tool: compares version pairs with libdpkg's dpkg_version_compare — the code behind
   `dpkg --compare-versions`. Reads "A B" lines on stdin, prints -1, 0 or 1 per line (or "invalid"). */
#define LIBDPKG_VOLATILE_API 1
#include <dpkg/dpkg.h>
#include <dpkg/version.h>
#include <dpkg/dpkg-db.h>
#include <dpkg/error.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *space = strchr(line, ' ');
        if (!space) { puts("invalid"); continue; }
        *space = 0;
        struct dpkg_version a, b;
        struct dpkg_error err;
        if (parseversion(&a, line, &err) < 0 || parseversion(&b, space + 1, &err) < 0) { puts("invalid"); continue; }
        int r = dpkg_version_compare(&a, &b);
        printf("%d\n", r < 0 ? -1 : (r > 0 ? 1 : 0));
    }
    return 0;
}
