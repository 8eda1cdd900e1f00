// harden — small C helpers for what Swift cannot import (macros, variadic calls) or must not do (code between
// fork and exec).
#ifndef C_HARDEN_SYSTEM_H
#define C_HARDEN_SYSTEM_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/eventfd.h>
#include <sched.h>

/// The git commit a binary was built from: written into the binary by scripts/stamp-version.sh (release builds,
/// set-up); "unknown" otherwise.
const char *harden_build_commit(void);

dev_t harden_makedev(unsigned int major, unsigned int minor);
/// glibc's memmem (a GNU extension Swift does not import): the first occurrence of needle in haystack, or NULL.
const void *harden_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);
unsigned int harden_major(dev_t dev);
unsigned int harden_minor(dev_t dev);

// wait(2) status decoding (macros in C).
int harden_wifexited(int status);
int harden_wexitstatus(int status);
int harden_wifsignaled(int status);
int harden_wtermsig(int status);
int harden_wifstopped(int status);
int harden_wstopsig(int status);

// ptrace(2) is variadic in glibc: a fixed-signature wrapper.
long harden_ptrace(int request, pid_t pid, uintptr_t addr, uintptr_t data);

/// One PTRACE_GET_SYSCALL_INFO answer, flattened. op: 1 entry, 2 exit, 3 seccomp, 0 none.
typedef struct {
    uint8_t op;
    uint32_t arch;
    uint64_t nr;
    uint64_t args[6];
    int64_t rval;
    uint8_t is_error;
} harden_syscall_info;
int harden_get_syscall_info(pid_t pid, harden_syscall_info *out);

/// Reads `len` bytes of the tracee's memory at `addr` (process_vm_readv, page by page); returns bytes read.
long harden_read_memory(pid_t pid, uint64_t addr, void *buffer, size_t len);
/// Reads a NUL-terminated string of at most `max - 1` bytes; returns its length, or -1.
long harden_read_string(pid_t pid, uint64_t addr, char *buffer, size_t max);

/// fork(); in the child: PTRACE_TRACEME, stdio from the given descriptors, SIGSTOP to itself, then execve.
/// Returns the child's pid (stopped, waiting for the tracer), or -1.
pid_t harden_spawn_traced(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd);

/// Keeps only the capabilities in `keep` (a bit mask of CAP_* numbers) in every set of this process.
int harden_limit_capabilities(uint64_t keep);

/// SIGINT/SIGTERM handlers that only set a flag (for the tracer loop); no SA_RESTART, so waitpid is interrupted.
void harden_install_stop_flag(void);
int harden_stop_requested(void);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants (a container's init once `runc create` exits) become
/// this process's children, so their exit status can be collected.
int harden_set_child_subreaper(void);

#endif
