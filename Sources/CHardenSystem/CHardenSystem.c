// harden — small C helpers for what Swift cannot import (macros, variadic calls) or must not do (code between
// fork and exec).
#define _GNU_SOURCE
#include "CHardenSystem.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>

// A marker scripts/stamp-version.sh finds in the binary, followed by room for the commit (not const: never folded).
char harden_build_stamp[72] = "@@HARDEN-BUILD-COMMIT@@unknown";
const char *harden_build_commit(void) { return harden_build_stamp + 23; }
#include <linux/capability.h>

dev_t harden_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int harden_major(dev_t dev) { return major(dev); }
unsigned int harden_minor(dev_t dev) { return minor(dev); }

int harden_wifexited(int status) { return WIFEXITED(status); }
int harden_wexitstatus(int status) { return WEXITSTATUS(status); }
int harden_wifsignaled(int status) { return WIFSIGNALED(status); }
int harden_wtermsig(int status) { return WTERMSIG(status); }
int harden_wifstopped(int status) { return WIFSTOPPED(status); }
int harden_wstopsig(int status) { return WSTOPSIG(status); }

long harden_ptrace(int request, pid_t pid, uintptr_t addr, uintptr_t data) {
    return ptrace((enum __ptrace_request)request, pid, (void *)addr, (void *)data);
}

// The kernel's struct ptrace_syscall_info (linux/ptrace.h), declared here so glibc's sys/ptrace.h and the
// kernel header do not clash.
struct harden_kernel_syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct { uint64_t nr; uint64_t args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr; uint64_t args[6]; uint32_t ret_data; } seccomp;
    };
};

int harden_get_syscall_info(pid_t pid, harden_syscall_info *out) {
    struct harden_kernel_syscall_info info;
    memset(&info, 0, sizeof info);
    long n = ptrace((enum __ptrace_request)0x420e /* PTRACE_GET_SYSCALL_INFO */, pid, (void *)sizeof info, &info);
    if (n < 0) return -1;
    memset(out, 0, sizeof *out);
    out->op = info.op;
    out->arch = info.arch;
    if (info.op == 1 || info.op == 3) {
        out->nr = info.entry.nr;
        memcpy(out->args, info.entry.args, sizeof out->args);
    } else if (info.op == 2) {
        out->rval = info.exit.rval;
        out->is_error = info.exit.is_error;
    }
    return 0;
}

long harden_read_memory(pid_t pid, uint64_t addr, void *buffer, size_t len) {
    size_t done = 0;
    const uint64_t page = 4096;
    while (done < len) {
        uint64_t at = addr + done;
        size_t chunk = (size_t)(page - (at % page));
        if (chunk > len - done) chunk = len - done;
        struct iovec local = { (char *)buffer + done, chunk };
        struct iovec remote = { (void *)(uintptr_t)at, chunk };
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) break;
        done += (size_t)n;
        if ((size_t)n < chunk) break;
    }
    return (long)done;
}

long harden_read_string(pid_t pid, uint64_t addr, char *buffer, size_t max) {
    if (max == 0 || addr == 0) return -1;
    size_t done = 0;
    const uint64_t page = 4096;
    while (done < max - 1) {
        uint64_t at = addr + done;
        size_t chunk = (size_t)(page - (at % page));
        if (chunk > max - 1 - done) chunk = max - 1 - done;
        long n = harden_read_memory(pid, at, buffer + done, chunk);
        if (n <= 0) { if (done == 0) return -1; break; }
        void *nul = memchr(buffer + done, 0, (size_t)n);
        if (nul) { done = (size_t)((char *)nul - buffer); buffer[done] = 0; return (long)done; }
        done += (size_t)n;
    }
    buffer[done] = 0;
    return (long)done;
}

pid_t harden_spawn_traced(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: only async-signal-safe calls from here on.
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) _exit(126);
    if (in_fd >= 0 && in_fd != 0) dup2(in_fd, 0);
    if (out_fd >= 0 && out_fd != 1) dup2(out_fd, 1);
    if (err_fd >= 0 && err_fd != 2) dup2(err_fd, 2);
    raise(SIGSTOP);
    execve(path, argv, envp);
    _exit(127);
}

int harden_limit_capabilities(uint64_t keep) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    uint32_t lo = (uint32_t)keep, hi = (uint32_t)(keep >> 32);
    data[0].effective &= lo; data[0].permitted &= lo; data[0].inheritable &= lo;
    data[1].effective &= hi; data[1].permitted &= hi; data[1].inheritable &= hi;
    // Bounding set too, so nothing can be regained by an exec.
    for (int cap = 0; cap < 64; cap++) {
        if (!(keep & (1ULL << cap))) (void)syscall(SYS_prctl, 24 /* PR_CAPBSET_DROP */, cap, 0, 0, 0);
    }
    return (int)syscall(SYS_capset, &header, data);
}

static volatile sig_atomic_t harden_stop_flag = 0;
static void harden_on_stop(int sig) { (void)sig; harden_stop_flag = 1; }
void harden_install_stop_flag(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = harden_on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
}
int harden_stop_requested(void) { return harden_stop_flag != 0; }

int harden_set_child_subreaper(void) { return (int)syscall(SYS_prctl, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0); }

const void *harden_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}
