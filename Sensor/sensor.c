// harden-sensor — the entrypoint of an image made by `harden instrument`.
//
// It starts the image's own entrypoint + cmd (everything after `--`) as its child, traces that child and its
// descendants with ptrace, and writes what they used (paths with their results, executions, syscalls, ids, ports)
// as a JSON fragment that `harden profile IMAGE --import` turns into a runtime profile. It is PID 1 of its
// container: it forwards signals to the app, reaps zombies and exits with the app's status.
//
// Cost: a seccomp filter (installed in the child, inherited by every descendant) lets the hot syscalls (read, write,
// futex, epoll, mmap, …) run without a stop. Path lookups that change nothing (open without a write flag, the stat,
// access, readlink and getxattr families) go to the sensor as seccomp user notifications, with synchronous wake-ups
// (Linux ≥ 6.6: the sensor runs on the app's CPU and answers at once — a ptrace stop costs two cross-CPU wake-ups,
// which made Python's start-up, a few thousand lookups, twice as slow). The sensor reads the path, finds the
// lookup's result itself (it shares the app's mounts) and lets the call run. Everything else it needs (exec,
// writes, ids, sockets, process creation and the rare rest) stops under ptrace (SECCOMP_RET_TRACE), so results and
// new processes are seen exactly. It needs no capability: tracing one's own child is allowed to every user (Docker's
// and Kubernetes' default seccomp profiles allow ptrace on kernels ≥ 4.8). Without user notifications every traced
// call stops under ptrace, as before; when tracing is refused it says so once on stderr and runs the app untraced.
// A process of another user (a worker after setuid) is read with the sensor's real ids set to its ids for the read.
//
// Static (musl), no loader and no libc in the image needed: the same file runs in glibc, musl and scratch images.
// Built by scripts/build-sensor.sh. x86-64 only for now.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "harden-sensor: only x86-64 is supported"
#endif

// ---- seccomp-BPF (linux/filter.h, linux/seccomp.h, linux/audit.h; musl ships none of them) ----
struct sock_filter { uint16_t code; uint8_t jt, jf; uint32_t k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };
#define BPF_LD_W_ABS 0x20
#define BPF_JEQ_K 0x15
#define BPF_JGE_K 0x35
#define BPF_JSET_K 0x45
#define BPF_RET_K 0x06
#define BPF_JA 0x05
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define SECCOMP_RET_TRACE 0x7ff00000U
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
struct notif_data { int nr; uint32_t arch; uint64_t ip; uint64_t args[6]; };
struct notif { uint64_t id; uint32_t pid; uint32_t flags; struct notif_data data; };
struct notif_resp { uint64_t id; int64_t val; int32_t error; uint32_t flags; };
#define NOTIF_RECV _IOWR('!', 0, struct notif)
#define NOTIF_SEND _IOWR('!', 1, struct notif_resp)
#define NOTIF_SET_FLAGS _IOW('!', 4, uint64_t)
#define AUDIT_ARCH_X86_64 0xC000003EU
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG_LO(i) (16 + 8 * (i))
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define MAX_NR 512

// ---- small utilities ----
static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { static const char m[] = "harden-sensor: out of memory\n"; (void)!write(2, m, sizeof m - 1); _exit(70); }
    return p;
}
static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) { free(p); return xmalloc(n); }
    return q;
}
static char *xstrdup(const char *s) { size_t n = strlen(s) + 1; char *d = xmalloc(n); memcpy(d, s, n); return d; }

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

// A string → index map (open addressing), used for paths and executions.
struct strmap { char **keys; size_t *lens; int *values; size_t cap, count; };
static int strmap_find(struct strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->lens[i] == len && memcmp(m->keys[i], key, len) == 0) return m->values[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}
static void strmap_put(struct strmap *m, char *key, size_t len, int value);
static void strmap_grow(struct strmap *m) {
    struct strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 256;
    m->keys = xmalloc(m->cap * sizeof(char *)); memset(m->keys, 0, m->cap * sizeof(char *));
    m->lens = xmalloc(m->cap * sizeof(size_t));
    m->values = xmalloc(m->cap * sizeof(int));
    m->count = 0;
    for (size_t i = 0; i < old.cap; i++) if (old.keys[i]) strmap_put(m, old.keys[i], old.lens[i], old.values[i]);
    free(old.keys); free(old.lens); free(old.values);
}
static void strmap_put(struct strmap *m, char *key, size_t len, int value) {
    if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = key; m->lens[i] = len; m->values[i] = value; m->count++;
}

// A growing text buffer (the JSON fragment).
struct buf { char *p; size_t n, cap; };
static void buf_add(struct buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) { b->cap = (b->n + n + 1) * 2; b->p = xrealloc(b->p, b->cap); }
    memcpy(b->p + b->n, s, n); b->n += n; b->p[b->n] = 0;
}
static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void buf_fmt(struct buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap; va_start(ap, fmt); int n = vsnprintf(tmp, sizeof tmp, fmt, ap); va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
// A JSON string: escapes, and bytes that are not UTF-8 become U+FFFD (paths are bytes; JSON is text).
static void buf_json(struct buf *b, const char *s, size_t n) {
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; buf_add(b, e, 2); i++; continue; }
        if (c < 0x20) { buf_fmt(b, "\\u%04x", c); i++; continue; }
        if (c < 0x80) { buf_add(b, (const char *)&s[i], 1); i++; continue; }
        size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        int ok = len && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok) { buf_add(b, &s[i], len); i += len; } else { buf_str(b, "\\ufffd"); i++; }
    }
    buf_add(b, "\"", 1);
}

// ---- what is recorded ----
enum kind { K_OPEN, K_WRITE, K_STAT, K_ACCESS, K_READLINK, K_EXEC, K_CHDIR, K_XATTR, K_COUNT };
static const char *kind_names[K_COUNT] = {"open", "write", "stat", "access", "readlink", "exec", "chdir", "xattr"};
#define MAX_FAIL 6
struct path_rec {
    char *path;
    unsigned ops[K_COUNT];
    int fail_err[MAX_FAIL];
    unsigned fail_n[MAX_FAIL];
    char process[16];
};
struct exec_rec { char *key; size_t keylen; unsigned count; unsigned uid, gid; int setid; };

static struct strmap path_index, exec_index;
static struct path_rec *paths; static size_t npaths, cap_paths;
static struct exec_rec *execs; static size_t nexecs, cap_execs;
static unsigned long syscall_counts[MAX_NR];
static unsigned ids_uid[64], ids_gid[64]; static int n_uid, n_gid;
struct port { char proto[4]; int port; char address[48]; };
static struct port ports[64]; static int n_ports;
static unsigned long processes;
static unsigned long unreadable;
static int want_notify = 1;  // HARDEN_SENSOR_NOTIFY=off: every traced call stops under ptrace (the older way)
static int debug;  // HARDEN_SENSOR_DEBUG=1: say on stderr what could not be read  // path arguments the sensor could not read (another user's non-dumpable process)
static int dirty = 1;

static void add_id(unsigned *set, int *n, unsigned v) {
    for (int i = 0; i < *n; i++) if (set[i] == v) return;
    if (*n < 64) { set[(*n)++] = v; dirty = 1; }
}

static struct path_rec *path_get(const char *path, const char *process) {
    size_t len = strlen(path);
    int i = strmap_find(&path_index, path, len);
    if (i >= 0) return &paths[i];
    if (npaths == cap_paths) { cap_paths = cap_paths ? cap_paths * 2 : 256; paths = xrealloc(paths, cap_paths * sizeof *paths); }
    struct path_rec *r = &paths[npaths];
    memset(r, 0, sizeof *r);
    r->path = xstrdup(path);
    if (process) snprintf(r->process, sizeof r->process, "%s", process);
    strmap_put(&path_index, r->path, len, (int)npaths);
    npaths++;
    return r;
}

static void record(const char *path, enum kind k, int err, const char *process) {
    struct path_rec *r = path_get(path, process);
    dirty = 1;
    if (!err) { r->ops[k]++; return; }
    for (int i = 0; i < MAX_FAIL; i++) {
        if (r->fail_n[i] && r->fail_err[i] == err) { r->fail_n[i]++; return; }
        if (!r->fail_n[i]) { r->fail_err[i] = err; r->fail_n[i] = 1; return; }
    }
}

// ---- tracees ----
struct task {
    int pid, tgid;
    int used, fresh, await;
    long nr;
    enum kind kind;
    int idcall;      // a setuid-family call: read the ids at its exit
    int sockcall;    // socket/bind/listen: 1, 2, 3
    unsigned long args[6];
    char *path[2]; int npath;
    char *execkey; size_t execkeylen;  // path \0 argv... of a pending execve
    char comm[16];
    char *cwd;       // tracked working directory (when /proc cannot tell)
    int peek_only;   // process_vm_readv refused (another user's process): PTRACE_PEEKDATA only
    int memfd;       // /proc/PID/mem, opened under the process's ids when process_vm_readv is refused (-1: none)
    int unreadable;  // not even that: its lookups are counted as unreadable (until it changes ids or execs)
};
static struct task *tasks; static size_t cap_tasks, n_tasks;
static struct task *task_find(int pid) {
    if (!cap_tasks) return NULL;
    size_t i = (size_t)pid & (cap_tasks - 1);
    while (tasks[i].used) {
        if (tasks[i].used == 1 && tasks[i].pid == pid) return &tasks[i];
        i = (i + 1) & (cap_tasks - 1);
    }
    return NULL;
}
static size_t task_slots_used;  // live entries and tombstones
static struct task *task_insert(int pid) {
    size_t i = (size_t)pid & (cap_tasks - 1);
    while (tasks[i].used == 1) i = (i + 1) & (cap_tasks - 1);
    if (!tasks[i].used) task_slots_used++;
    memset(&tasks[i], 0, sizeof tasks[i]);
    tasks[i].used = 1; tasks[i].pid = pid; tasks[i].tgid = pid; tasks[i].memfd = -1;
    n_tasks++;
    return &tasks[i];
}
// Adding may move every task: pointers from before a task_add are stale.
static struct task *task_add(int pid) {
    if ((task_slots_used + 1) * 2 > cap_tasks) {
        struct task *old = tasks; size_t oldcap = cap_tasks;
        cap_tasks = 64;
        while ((n_tasks + 1) * 4 > cap_tasks) cap_tasks *= 2;
        tasks = xmalloc(cap_tasks * sizeof *tasks); memset(tasks, 0, cap_tasks * sizeof *tasks);
        n_tasks = 0; task_slots_used = 0;
        for (size_t i = 0; i < oldcap; i++) if (old[i].used == 1) *task_insert(old[i].pid) = old[i];
        free(old);
    }
    return task_insert(pid);
}
static int peek_only(int pid) { struct task *t = task_find(pid); return t && t->peek_only; }
static void set_peek_only(int pid) { struct task *t = task_find(pid); if (t) t->peek_only = 1; }

static void task_clear_pending(struct task *t) {
    for (int i = 0; i < t->npath; i++) free(t->path[i]);
    t->npath = 0;
    free(t->execkey); t->execkey = NULL; t->execkeylen = 0;
    t->await = 0; t->idcall = 0; t->sockcall = 0;
}
static void task_remove(struct task *t) {
    task_clear_pending(t);
    if (t->memfd >= 0) close(t->memfd);
    free(t->cwd);
    memset(t, 0, sizeof *t);
    t->used = 2;  // tombstone
    n_tasks--;
}

static void read_comm(int pid, char out[16]) {
    char p[64]; snprintf(p, sizeof p, "/proc/%d/comm", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, 15);
    close(fd);
    if (n <= 0) return;
    out[n] = 0;
    char *nl = strchr(out, '\n'); if (nl) *nl = 0;
}

// The real, effective and saved uids and gids of a process (the first three fields of "Uid:" and "Gid:" in
// /proc/PID/status).
static int status_ids(int pid, unsigned uid[3], unsigned gid[3]) {
    char p[64], b[4096]; snprintf(p, sizeof p, "/proc/%d/status", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return -1;
    b[n] = 0;
    char *u = strstr(b, "\nUid:"), *g = strstr(b, "\nGid:");
    if (!u || !g || sscanf(u + 5, "%u %u %u", &uid[0], &uid[1], &uid[2]) != 3 || sscanf(g + 5, "%u %u %u", &gid[0], &gid[1], &gid[2]) != 3) return -1;
    return 0;
}
// Effective uid and gid.
static int read_ids(int pid, unsigned *uid, unsigned *gid) {
    unsigned u[3], g[3];
    if (status_ids(pid, u, g) != 0) return -1;
    *uid = u[1]; *gid = g[1];
    return 0;
}

// Tracee memory: process_vm_readv, else PTRACE_PEEKDATA (which works for a dumpable tracee of another user too,
// where process_vm_readv is refused: after one refusal a task goes straight to PEEKDATA).
static int peek_only(int pid);
static void set_peek_only(int pid);
static ssize_t read_mem(int pid, unsigned long addr, void *out, size_t n) {
    if (!peek_only(pid)) {
        struct iovec local = {out, n}, remote = {(void *)addr, n};
        ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (r == (ssize_t)n) return r;
        if (r < 0 && errno == EPERM) set_peek_only(pid);
    }
    size_t done = 0;
    while (done < n) {
        errno = 0;
        long w = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + done), NULL);
        if (errno) return done ? (ssize_t)done : -1;
        size_t k = n - done < sizeof w ? n - done : sizeof w;
        memcpy((char *)out + done, &w, k);
        done += k;
    }
    return (ssize_t)done;
}
// A NUL-terminated string of the tracee (at most 4096 bytes) read with process_vm_readv (or from its /proc/PID/mem
// when memfd ≥ 0), page-wise (a string can end just before an unmapped page); NULL with errno EPERM when refused.
static char tmp_string[4097 + sizeof(long)];
static char *vm_string(int pid, int memfd, unsigned long addr) {
    size_t have = 0;
    while (have < 4096) {
        size_t chunk = 4096 - ((addr + have) & 4095);
        if (chunk > 4096 - have) chunk = 4096 - have;
        struct iovec local = {tmp_string + have, chunk}, remote = {(void *)(addr + have), chunk};
        ssize_t r = memfd >= 0 ? pread(memfd, local.iov_base, chunk, (off_t)remote.iov_base) : process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (r <= 0) break;
        if (memchr(tmp_string + have, 0, (size_t)r)) return xstrdup(tmp_string);
        have += (size_t)r;
        if ((size_t)r < chunk) break;
    }
    if (!have) return NULL;
    tmp_string[have] = 0;
    return xstrdup(tmp_string);
}
// The same for a tracee in a ptrace stop: process_vm_readv, else word by word with PEEKDATA up to the first NUL.
static char *read_string(int pid, unsigned long addr) {
    if (!addr) return NULL;
    if (!peek_only(pid)) {
        char *s = vm_string(pid, -1, addr);
        if (s) return s;
        if (errno == EPERM) set_peek_only(pid);
    }
    size_t have = 0;
    while (have < 4096) {
        errno = 0;
        long w = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + have), NULL);
        if (errno) break;
        memcpy(tmp_string + have, &w, sizeof w);
        if (memchr(&w, 0, sizeof w)) return xstrdup(tmp_string);
        have += sizeof w;
    }
    if (!have) return NULL;
    tmp_string[have] = 0;
    return xstrdup(tmp_string);
}

static char *read_link(const char *p) {
    char b[4097];
    ssize_t n = readlink(p, b, 4096);
    if (n <= 0) return NULL;
    b[n] = 0;
    return xstrdup(b);
}

// Lexical normalisation of an absolute path ("." / ".." / "//"; " (deleted)" dropped).
static char *normalize(const char *in) {
    size_t n = strlen(in);
    char *s = xstrdup(in);
    if (n > 10 && strcmp(s + n - 10, " (deleted)") == 0) s[n - 10] = 0;
    char *out = xmalloc(strlen(s) + 2);
    size_t o = 0;
    char *save = NULL;
    for (char *c = strtok_r(s, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) continue;
        if (strcmp(c, "..") == 0) { while (o > 0 && out[o - 1] != '/') o--; if (o > 0) o--; continue; }
        out[o++] = '/';
        size_t l = strlen(c); memcpy(out + o, c, l); o += l;
    }
    if (!o) out[o++] = '/';
    out[o] = 0;
    free(s);
    return out;
}

// The absolute form of a path argument: relative to the working directory or to a directory descriptor.
static char *resolve(struct task *t, const char *raw, int has_dirfd, long dirfd) {
    char *base = NULL;
    if (raw[0] == '/') return normalize(raw);
    char p[64];
    if (has_dirfd && (int)dirfd != AT_FDCWD) {
        snprintf(p, sizeof p, "/proc/%d/fd/%d", t->pid, (int)dirfd);
        base = read_link(p);
    } else {
        snprintf(p, sizeof p, "/proc/%d/cwd", t->pid);
        base = read_link(p);
        if (!base && t->cwd) base = xstrdup(t->cwd);
    }
    if (!base || base[0] != '/') { free(base); unreadable++; if (debug) fprintf(stderr, "harden-sensor: cannot resolve %s for pid %d (%s)\n", raw, t->pid, t->comm); return NULL; }
    size_t lb = strlen(base), lr = strlen(raw);
    char *j = xmalloc(lb + lr + 2);
    memcpy(j, base, lb); j[lb] = '/'; memcpy(j + lb + 1, raw, lr + 1);
    free(base);
    char *r = normalize(j);
    free(j);
    return r;
}

// Which syscalls take paths: {nr, kind, path arg, dirfd arg (-1: cwd), second path arg, its dirfd}.
struct pathcall { long nr; enum kind kind; int a1, d1, a2, d2; };
static const struct pathcall pathcalls[] = {
    {SYS_open, K_OPEN, 0, -1, -1, -1}, {SYS_openat, K_OPEN, 1, 0, -1, -1}, {SYS_openat2, K_OPEN, 1, 0, -1, -1},
    {SYS_creat, K_WRITE, 0, -1, -1, -1}, {SYS_stat, K_STAT, 0, -1, -1, -1}, {SYS_lstat, K_STAT, 0, -1, -1, -1},
    {SYS_newfstatat, K_STAT, 1, 0, -1, -1}, {SYS_statx, K_STAT, 1, 0, -1, -1}, {SYS_statfs, K_STAT, 0, -1, -1, -1},
    {SYS_access, K_ACCESS, 0, -1, -1, -1}, {SYS_faccessat, K_ACCESS, 1, 0, -1, -1}, {SYS_faccessat2, K_ACCESS, 1, 0, -1, -1},
    {SYS_readlink, K_READLINK, 0, -1, -1, -1}, {SYS_readlinkat, K_READLINK, 1, 0, -1, -1},
    {SYS_execve, K_EXEC, 0, -1, -1, -1}, {SYS_execveat, K_EXEC, 1, 0, -1, -1},
    {SYS_chdir, K_CHDIR, 0, -1, -1, -1}, {SYS_chroot, K_CHDIR, 0, -1, -1, -1},
    {SYS_mkdir, K_WRITE, 0, -1, -1, -1}, {SYS_mkdirat, K_WRITE, 1, 0, -1, -1}, {SYS_rmdir, K_WRITE, 0, -1, -1, -1},
    {SYS_unlink, K_WRITE, 0, -1, -1, -1}, {SYS_unlinkat, K_WRITE, 1, 0, -1, -1},
    {SYS_rename, K_WRITE, 0, -1, 1, -1}, {SYS_renameat, K_WRITE, 1, 0, 3, 2}, {SYS_renameat2, K_WRITE, 1, 0, 3, 2},
    {SYS_link, K_WRITE, 0, -1, 1, -1}, {SYS_linkat, K_WRITE, 1, 0, 3, 2}, {SYS_symlink, K_WRITE, 1, -1, -1, -1},
    {SYS_symlinkat, K_WRITE, 2, 1, -1, -1}, {SYS_chmod, K_WRITE, 0, -1, -1, -1}, {SYS_fchmodat, K_WRITE, 1, 0, -1, -1},
    {SYS_chown, K_WRITE, 0, -1, -1, -1}, {SYS_lchown, K_WRITE, 0, -1, -1, -1}, {SYS_fchownat, K_WRITE, 1, 0, -1, -1},
    {SYS_truncate, K_WRITE, 0, -1, -1, -1}, {SYS_utimensat, K_WRITE, 1, 0, -1, -1}, {SYS_utimes, K_WRITE, 0, -1, -1, -1},
    {SYS_mknod, K_WRITE, 0, -1, -1, -1}, {SYS_mknodat, K_WRITE, 1, 0, -1, -1},
    {SYS_getxattr, K_XATTR, 0, -1, -1, -1}, {SYS_lgetxattr, K_XATTR, 0, -1, -1, -1}, {SYS_listxattr, K_XATTR, 0, -1, -1, -1},
    {SYS_llistxattr, K_XATTR, 0, -1, -1, -1}, {SYS_setxattr, K_WRITE, 0, -1, -1, -1}, {SYS_lsetxattr, K_WRITE, 0, -1, -1, -1},
};

// Syscalls that never stop: frequent, and needed by every program (they are reported as allowed-untraced, and the
// generated seccomp profile allows them).
static const long untraced[] = {
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_preadv, SYS_pwritev, SYS_preadv2,
    SYS_pwritev2, SYS_lseek, SYS_close, SYS_fstat, SYS_futex, SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2,
    SYS_epoll_ctl, SYS_poll, SYS_ppoll, SYS_select, SYS_pselect6, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise,
    SYS_brk, SYS_mremap, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_rt_sigtimedwait, SYS_sigaltstack,
    SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_sendfile, SYS_accept,
    SYS_accept4, SYS_connect, SYS_getpid, SYS_gettid, SYS_getppid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
    SYS_clock_gettime, SYS_gettimeofday, SYS_time, SYS_nanosleep, SYS_clock_nanosleep, SYS_sched_yield, SYS_fcntl,
    SYS_ioctl, SYS_getsockopt, SYS_setsockopt, SYS_getsockname, SYS_getpeername, SYS_shutdown, SYS_dup, SYS_dup2,
    SYS_dup3, SYS_pipe, SYS_pipe2, SYS_wait4, SYS_waitid, SYS_getdents64, SYS_getrandom, SYS_exit, SYS_exit_group,
    SYS_kill, SYS_tgkill, SYS_tkill, SYS_restart_syscall, SYS_set_robust_list, SYS_rseq, SYS_membarrier, SYS_fsync,
    SYS_fdatasync, SYS_fstatfs, SYS_eventfd2, SYS_timerfd_settime, SYS_splice, SYS_getcwd, SYS_umask, SYS_getrusage,
    SYS_sched_getaffinity, SYS_prlimit64, SYS_uname, SYS_sysinfo, SYS_times, SYS_alarm, SYS_setitimer, SYS_getitimer,
    SYS_io_uring_enter, SYS_sched_getparam, SYS_getpriority, SYS_getgroups, SYS_getresuid, SYS_getresgid,
    SYS_close_range, SYS_set_tid_address, SYS_arch_prctl, SYS_fchdir, SYS_flock, SYS_ftruncate, SYS_fallocate,
    SYS_fadvise64, SYS_msync, SYS_mincore, SYS_socketpair, SYS_rt_sigreturn,
};
#define N_UNTRACED (sizeof untraced / sizeof untraced[0])

static int cmp_long(const void *a, const void *b) { long x = *(const long *)a, y = *(const long *)b; return x < y ? -1 : x > y; }

// Lookups that change nothing: answered through user notifications (their result found by the sensor). open and
// openat count only without a write flag (checked in the filter); openat2 keeps its flags in memory: traced.
static const long lookups[] = {
    SYS_stat, SYS_lstat, SYS_newfstatat, SYS_statx, SYS_statfs, SYS_access, SYS_faccessat, SYS_faccessat2,
    SYS_readlink, SYS_readlinkat, SYS_getxattr, SYS_lgetxattr, SYS_listxattr, SYS_llistxattr,
};
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)

// The filter: non-x86-64 calls pass; fstat-like newfstatat/statx(fd, "", AT_EMPTY_PATH) pass; then a balanced tree
// over the sorted untraced numbers answers ALLOW; what it does not allow jumps to the routing: lookups NOTIFY (or
// TRACE when notifications are not available), everything else TRACE.
static struct sock_filter prog[1024];
static int plen;
static void emit(uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) { prog[plen++] = (struct sock_filter){code, jt, jf, k}; }
static long sorted_untraced[N_UNTRACED];
static int n_sorted;
static int to_routing[256], n_to_routing;  // the tree's "not untraced" jumps, patched once the routing is placed
static int tree_size(int lo, int hi) { return hi - lo < 4 ? 2 * (hi - lo + 1) + 1 : 1 + tree_size(lo, (lo + hi) / 2 - 1) + tree_size((lo + hi) / 2, hi); }
static void emit_tree(int lo, int hi) {
    if (hi - lo < 4) {
        for (int i = lo; i <= hi; i++) { emit(BPF_JEQ_K, 0, 1, (uint32_t)sorted_untraced[i]); emit(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW); }
        to_routing[n_to_routing++] = plen;
        emit(BPF_JA, 0, 0, 0);
        return;
    }
    int mid = (lo + hi) / 2;
    emit(BPF_JGE_K, (uint8_t)tree_size(lo, mid - 1), 0, (uint32_t)sorted_untraced[mid]);
    emit_tree(lo, mid - 1);
    emit_tree(mid, hi);
}
// open/openat (flags in argument FLAGS): a lookup without write flags.
static void emit_open_route(long nr, int flags, uint32_t lookup) {
    emit(BPF_LD_W_ABS, 0, 0, OFF_NR);
    emit(BPF_JEQ_K, 0, 4, (uint32_t)nr);
    emit(BPF_LD_W_ABS, 0, 0, OFF_ARG_LO(flags));
    emit(BPF_JSET_K, 1, 0, WRITE_FLAGS);
    emit(BPF_RET_K, 0, 0, lookup);
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_TRACE);
}
static void build_filter(int notify) {
    memcpy(sorted_untraced, untraced, sizeof untraced);
    qsort(sorted_untraced, N_UNTRACED, sizeof(long), cmp_long);
    n_sorted = 0;
    for (size_t i = 0; i < N_UNTRACED; i++)
        if (!n_sorted || sorted_untraced[n_sorted - 1] != sorted_untraced[i]) sorted_untraced[n_sorted++] = sorted_untraced[i];
    plen = 0;
    emit(BPF_LD_W_ABS, 0, 0, OFF_ARCH);
    emit(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64);
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW);
    emit(BPF_LD_W_ABS, 0, 0, OFF_NR);
    // x32 calls (bit 30) are not ours to read: pass.
    emit(BPF_JSET_K, 0, 1, 0x40000000U);
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW);
    // newfstatat(fd, "", buf, AT_EMPTY_PATH) is glibc's fstat: pass (flags are arg 3; statx's are arg 2).
    emit(BPF_JEQ_K, 0, 4, SYS_newfstatat);
    emit(BPF_LD_W_ABS, 0, 0, OFF_ARG_LO(3));
    emit(BPF_JSET_K, 0, 1, AT_EMPTY_PATH);
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW);
    emit(BPF_LD_W_ABS, 0, 0, OFF_NR);
    emit(BPF_JEQ_K, 0, 4, SYS_statx);
    emit(BPF_LD_W_ABS, 0, 0, OFF_ARG_LO(2));
    emit(BPF_JSET_K, 0, 1, AT_EMPTY_PATH);
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW);
    emit(BPF_LD_W_ABS, 0, 0, OFF_NR);
    n_to_routing = 0;
    emit_tree(0, n_sorted - 1);
    for (int i = 0; i < n_to_routing; i++) prog[to_routing[i]].k = (uint32_t)(plen - to_routing[i] - 1);
    uint32_t lookup = notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_TRACE;
    emit_open_route(SYS_open, 1, lookup);
    emit_open_route(SYS_openat, 2, lookup);
    emit(BPF_LD_W_ABS, 0, 0, OFF_NR);
    for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
        emit(BPF_JEQ_K, 0, 1, (uint32_t)lookups[i]);
        emit(BPF_RET_K, 0, 0, lookup);
    }
    emit(BPF_RET_K, 0, 0, SECCOMP_RET_TRACE);
}

// ---- sockets: which fd is which socket, so a listen() names a port ----
struct sock { int tgid, fd, type, family, port; unsigned char addr[16]; int bound; };
static struct sock socks[1024];
static int sock_next;
static struct sock *sock_find(int tgid, int fd) {
    for (int i = 0; i < 1024; i++) if (socks[i].tgid == tgid && socks[i].fd == fd && socks[i].type) return &socks[i];
    return NULL;
}
static void add_port(const char *proto, const struct sock *s) {
    char a[48];
    if (s->family == 2) {
        snprintf(a, sizeof a, "%u.%u.%u.%u", s->addr[0], s->addr[1], s->addr[2], s->addr[3]);
    } else {
        int zero = 1;
        for (int i = 0; i < 16; i++) if (s->addr[i]) zero = 0;
        if (zero) snprintf(a, sizeof a, "::");
        else {
            size_t o = 0;
            for (int i = 0; i < 16; i += 2) o += (size_t)snprintf(a + o, sizeof a - o, "%s%x", i ? ":" : "", (unsigned)(s->addr[i] << 8 | s->addr[i + 1]));
        }
    }
    for (int i = 0; i < n_ports; i++) if (ports[i].port == s->port && !strcmp(ports[i].proto, proto) && !strcmp(ports[i].address, a)) return;
    if (s->port == 0) return;  // an ephemeral port: not a service port
    if (n_ports < 64) { snprintf(ports[n_ports].proto, 4, "%s", proto); ports[n_ports].port = s->port; snprintf(ports[n_ports].address, 48, "%s", a); n_ports++; dirty = 1; }
}

// ---- the tracer ----
static int app_pid;
static int traced;

static const struct pathcall *pathcall_of(long nr) {
    for (size_t i = 0; i < sizeof pathcalls / sizeof pathcalls[0]; i++) if (pathcalls[i].nr == nr) return &pathcalls[i];
    return NULL;
}
static int is_idcall(long nr) {
    return nr == SYS_setuid || nr == SYS_setgid || nr == SYS_setreuid || nr == SYS_setregid || nr == SYS_setresuid ||
           nr == SYS_setresgid || nr == SYS_setfsuid || nr == SYS_setfsgid;
}

// argv of an execve: "path\0arg0\0arg1…" as one key (at most 256 arguments).
static void read_exec_key(struct task *t, const char *path, unsigned long argvp) {
    struct buf b = {0};
    buf_add(&b, path, strlen(path) + 1);
    for (int i = 0; i < 256 && argvp; i++) {
        unsigned long p = 0;
        if (read_mem(t->pid, argvp + 8UL * (unsigned long)i, &p, 8) != 8 || !p) break;
        char *s = read_string(t->pid, p);
        if (!s) break;
        buf_add(&b, s, strlen(s) + 1);
        free(s);
    }
    t->execkey = b.p; t->execkeylen = b.n;
}

static void syscall_entry(struct task *t, const struct user_regs_struct *r) {
    long nr = (long)r->orig_rax;
    t->nr = nr;
    if (nr >= 0 && nr < MAX_NR) { syscall_counts[nr]++; dirty = 1; }
    unsigned long a[6] = {r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9};
    memcpy(t->args, a, sizeof a);
    task_clear_pending(t);
    if (is_idcall(nr)) { t->idcall = 1; t->await = 1; return; }
    if (nr == SYS_prctl) t->unreadable = 0;  // PR_SET_DUMPABLE may make it readable: the next lookup tries again
    if (nr == SYS_socket) { t->sockcall = 1; t->await = 1; return; }
    if (nr == SYS_bind || nr == SYS_listen) {
        struct sock *s = sock_find(t->tgid, (int)a[0]);
        if (!s) return;
        if (nr == SYS_bind) {
            unsigned char sa[28] = {0};
            if (a[2] < 8 || read_mem(t->pid, a[1], sa, a[2] < sizeof sa ? a[2] : sizeof sa) < 8) return;
            int fam = sa[0] | sa[1] << 8;
            if (fam != 2 && fam != 10) return;
            s->family = fam; s->port = sa[2] << 8 | sa[3];
            memset(s->addr, 0, 16);
            if (fam == 2) memcpy(s->addr, sa + 4, 4); else memcpy(s->addr, sa + 8, 16);
            t->sockcall = 2;
        } else {
            t->sockcall = 3;
        }
        t->await = 1;
        return;
    }
    if (nr == SYS_clone) { t->await = 0; return; }  // the fork event follows
    const struct pathcall *pc = pathcall_of(nr);
    if (!pc) return;
    t->kind = pc->kind;
    if ((nr == SYS_open || nr == SYS_openat) && (a[nr == SYS_open ? 1 : 2] & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC))) t->kind = K_WRITE;
    int args[2][2] = {{pc->a1, pc->d1}, {pc->a2, pc->d2}};
    int known = 1;
    for (int i = 0; i < 2; i++) {
        if (args[i][0] < 0) continue;
        if (!a[args[i][0]]) continue;  // NULL: about the descriptor (futimens is utimensat(fd, NULL, …))
        char *raw = read_string(t->pid, a[args[i][0]]);
        if (!raw) { unreadable++; if (debug) fprintf(stderr, "harden-sensor: unreadable path argument: syscall %ld, pid %d (%s)\n", nr, t->pid, t->comm); continue; }
        if (!raw[0]) { free(raw); continue; }  // AT_EMPTY_PATH: about the descriptor
        char *p = resolve(t, raw, args[i][1] >= 0, args[i][1] >= 0 ? (long)a[args[i][1]] : AT_FDCWD);
        free(raw);
        if (!p) continue;
        // Already seen this way (or failing): count it and skip the exit stop. A result that changes later is the
        // app's own doing (a file it created), not image content.
        int j = strmap_find(&path_index, p, strlen(p));
        if (j < 0 || !(paths[j].ops[t->kind] || paths[j].fail_n[0])) known = 0;
        t->path[t->npath++] = p;
    }
    if (!t->npath) return;
    if (t->kind == K_EXEC) {
        read_exec_key(t, t->path[0], nr == SYS_execve ? a[1] : a[2]);
        t->await = 1;
        return;
    }
    if (known) {
        for (int i = 0; i < t->npath; i++) {
            struct path_rec *r = &paths[strmap_find(&path_index, t->path[i], strlen(t->path[i]))];
            if (r->ops[t->kind]) r->ops[t->kind]++; else r->fail_n[0]++;
        }
        task_clear_pending(t);
        return;
    }
    t->await = 1;
}

static void syscall_exit(struct task *t, const struct user_regs_struct *r) {
    long ret = (long)r->rax;
    int err = ret < 0 && ret > -4096 ? (int)-ret : 0;
    if (t->idcall) {
        unsigned u, g;
        t->unreadable = 0;  // its memory may be readable under its new ids
        if (!err && read_ids(t->pid, &u, &g) == 0) { add_id(ids_uid, &n_uid, u); add_id(ids_gid, &n_gid, g); }
    } else if (t->sockcall == 1) {
        if (!err) {
            int type = (int)(t->args[1] & 0xf);
            struct sock *s = sock_find(t->tgid, (int)ret);
            if (!s) { s = &socks[sock_next]; sock_next = (sock_next + 1) % 1024; }
            memset(s, 0, sizeof *s);
            s->tgid = t->tgid; s->fd = (int)ret; s->type = type;
        }
    } else if (t->sockcall == 2 || t->sockcall == 3) {
        struct sock *s = sock_find(t->tgid, (int)t->args[0]);
        if (s && !err && s->family) {
            if (t->sockcall == 2) { s->bound = 1; if (s->type == SOCK_DGRAM) add_port("udp", s); }
            else if (s->type == SOCK_STREAM) add_port("tcp", s);
        }
    } else if (t->npath) {
        // A successful execve is recorded at its exec event (it does not return here).
        if (!(t->kind == K_EXEC && !err))
            for (int i = 0; i < t->npath; i++) record(t->path[i], t->kind, err, t->comm);
        if (t->kind == K_CHDIR && !err && t->nr == SYS_chdir) { free(t->cwd); t->cwd = xstrdup(t->path[0]); }
    }
    task_clear_pending(t);
}

// The ELF interpreter of an executable (PT_INTERP): the kernel maps it without a syscall the filter could see.
static char *elf_interpreter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    unsigned char eh[64];
    char *out = NULL;
    if (pread(fd, eh, 64, 0) == 64 && !memcmp(eh, "\177ELF", 4) && eh[4] == 2 && eh[5] == 1) {
        uint64_t phoff; uint16_t phentsize, phnum;
        memcpy(&phoff, eh + 32, 8); memcpy(&phentsize, eh + 54, 2); memcpy(&phnum, eh + 56, 2);
        for (unsigned i = 0; i < phnum && i < 64 && phentsize >= 56; i++) {
            unsigned char ph[56];
            if (pread(fd, ph, 56, (off_t)(phoff + (uint64_t)i * phentsize)) != 56) break;
            uint32_t type; uint64_t off, size;
            memcpy(&type, ph, 4); memcpy(&off, ph + 8, 8); memcpy(&size, ph + 32, 8);
            if (type != 3 /* PT_INTERP */ || size < 2 || size > 4096) continue;
            char *b = xmalloc(size + 1);
            if (pread(fd, b, size, (off_t)off) == (ssize_t)size && b[0] == '/') { b[size] = 0; out = b; } else free(b);
            break;
        }
    }
    close(fd);
    return out;
}

static void exec_event(struct task *t) {
    read_comm(t->pid, t->comm);
    if (t->memfd >= 0) { close(t->memfd); t->memfd = -1; }  // a new address space
    t->unreadable = 0;
    unsigned uid = 0, gid = 0;
    int have_ids = read_ids(t->pid, &uid, &gid) == 0;
    if (have_ids) { add_id(ids_uid, &n_uid, uid); add_id(ids_gid, &n_gid, gid); }
    char p[64]; snprintf(p, sizeof p, "/proc/%d/exe", t->pid);
    char *exe = read_link(p);
    char *path = t->npath ? t->path[0] : exe;
    if (path) {
        record(path, K_EXEC, 0, t->comm);
        if (exe && strcmp(exe, path)) { char *n = normalize(exe); record(n, K_EXEC, 0, t->comm); free(n); }
        char *interp = elf_interpreter(exe ? exe : path);
        if (interp) { char *n = normalize(interp); record(n, K_OPEN, 0, t->comm); free(n); free(interp); }
        struct stat st;
        int setid = stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
        char *key = t->execkey; size_t keylen = t->execkeylen;
        char *own = NULL;
        if (!key) { own = xstrdup(path); key = own; keylen = strlen(path) + 1; }
        int i = strmap_find(&exec_index, key, keylen);
        if (i < 0) {
            if (nexecs == cap_execs) { cap_execs = cap_execs ? cap_execs * 2 : 64; execs = xrealloc(execs, cap_execs * sizeof *execs); }
            char *k = xmalloc(keylen); memcpy(k, key, keylen);
            execs[nexecs] = (struct exec_rec){k, keylen, 0, uid, gid, setid};
            strmap_put(&exec_index, k, keylen, (int)nexecs);
            i = (int)nexecs++;
        }
        execs[i].count++;
        free(own);
        dirty = 1;
    }
    free(exe);
    // The execve's exit stop follows; nothing more to record there.
    for (int i = 0; i < t->npath; i++) free(t->path[i]);
    t->npath = 0;
}

// ---- lookups answered through user notifications ----
static int listener = -1;        // the notification descriptor (-1: every traced call stops under ptrace)
// Said on stderr at the end with HARDEN_SENSOR_DEBUG: lookups notified, memory files opened under a process's ids.
static unsigned long n_notified, n_became;
static uid_t own_uid, own_euid, own_suid;
static gid_t own_gid, own_egid, own_sgid;

// The ids of a process when its real, effective and saved ones agree (then the sensor can take them as its real ids).
static int same_ids(int pid, unsigned *uid, unsigned *gid) {
    unsigned u[3], g[3];
    if (status_ids(pid, u, g) != 0 || u[0] != u[1] || u[1] != u[2] || g[0] != g[1] || g[1] != g[2]) return -1;
    *uid = u[0]; *gid = g[0];
    return 0;
}
// Reading another user's memory needs the same real ids (and a dumpable process): a sensor whose effective uid is 0
// takes the process's ids as its real and filesystem ids for the read (raw syscalls: this thread only), then its own.
static int become(int pid) {
    unsigned u, g;
    if (own_euid != 0 || same_ids(pid, &u, &g) != 0) return 0;
    if (syscall(SYS_setresgid, g, -1, -1) != 0) return 0;
    syscall(SYS_setfsgid, g);
    if (syscall(SYS_setresuid, u, -1, -1) != 0) { syscall(SYS_setfsgid, own_egid); syscall(SYS_setresgid, own_gid, -1, -1); return 0; }
    syscall(SYS_setfsuid, u);
    return 1;
}
static void unbecome(void) {
    syscall(SYS_setfsuid, own_euid);
    syscall(SYS_setresuid, own_uid, -1, -1);
    syscall(SYS_setfsgid, own_egid);
    syscall(SYS_setresgid, own_gid, -1, -1);
}

// The path a notified lookup names, absolute; NULL when it names none or cannot be read (*refused: the kernel
// refused). Read with process_vm_readv or from the process's memfd (then a relative path is resolved under its ids:
// /proc/PID/cwd needs them too).
static char *lookup_path(struct task *t, long nr, const unsigned long *a, int *refused, int *slash) {
    const struct pathcall *pc = pathcall_of(nr);
    *refused = 0;
    if (!pc || !a[pc->a1]) return NULL;
    char *raw = vm_string(t->pid, t->memfd, a[pc->a1]);
    if (!raw) { *refused = errno == EPERM || errno == EACCES; return NULL; }
    size_t n = strlen(raw);
    *slash = n > 1 && raw[n - 1] == '/';  // "name/": a directory is meant (normalising drops the slash)
    int b = raw[0] && raw[0] != '/' && t->memfd >= 0 && become(t->pid);
    char *p = raw[0] ? resolve(t, raw, pc->d1 >= 0, pc->d1 >= 0 ? (long)a[pc->d1] : AT_FDCWD) : NULL;
    if (b) unbecome();
    free(raw);
    return p;
}

// /proc/PID/mem of another user's process, opened under its ids (the kernel checks access when it is opened).
static int open_mem(int pid) {
    if (!become(pid)) return -1;
    char p[64]; snprintf(p, sizeof p, "/proc/%d/mem", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    unbecome();
    return fd;
}

// The result the lookup is about to have (the sensor shares the app's mounts and root): 0 or an errno.
static int probe(long nr, const unsigned long *a, const char *path, int slash) {
    int nofollow = nr == SYS_lstat || nr == SYS_readlink || nr == SYS_readlinkat || nr == SYS_lgetxattr || nr == SYS_llistxattr;
    int open_flags = nr == SYS_open ? (int)a[1] : nr == SYS_openat ? (int)a[2] : 0;
    if (nr == SYS_newfstatat || nr == SYS_faccessat2) nofollow = (a[3] & AT_SYMLINK_NOFOLLOW) != 0;
    if (nr == SYS_statx) nofollow = (a[2] & AT_SYMLINK_NOFOLLOW) != 0;
    if (open_flags & O_NOFOLLOW) nofollow = 1;
    if (slash) nofollow = 0, open_flags |= O_DIRECTORY;
    struct stat st;
    if (fstatat(AT_FDCWD, path, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) != 0) return errno;
    if ((open_flags & O_NOFOLLOW) && S_ISLNK(st.st_mode)) return ELOOP;
    if ((open_flags & O_DIRECTORY) && !S_ISDIR(st.st_mode)) return ENOTDIR;
    if ((nr == SYS_readlink || nr == SYS_readlinkat) && !S_ISLNK(st.st_mode)) return EINVAL;
    return 0;
}

static void record_lookup(long nr, const unsigned long *a, const char *path, int slash, const char *process) {
    enum kind k = pathcall_of(nr)->kind;
    int j = strmap_find(&path_index, path, strlen(path));
    if (j >= 0 && (paths[j].ops[k] || paths[j].fail_n[0])) {  // seen this way before: counted, not probed again
        if (paths[j].ops[k]) paths[j].ops[k]++; else paths[j].fail_n[0]++;
        dirty = 1;
        return;
    }
    record(path, k, probe(nr, a, path, slash), process);
}

static void answer(uint64_t id) {
    struct notif_resp r = {id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ioctl(listener, NOTIF_SEND, &r);  // ENOENT: the process went away meanwhile
}

// One notification: read, record, let the call run. A process whose memory the kernel will not show even under its
// own ids (another user's, not dumpable: PTRACE_PEEKDATA refuses it too) is counted as unreadable.
static void notification(void) {
    struct notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, NOTIF_RECV, &req) != 0) return;
    n_notified++;
    long nr = req.data.nr;
    unsigned long a[6];
    for (int i = 0; i < 6; i++) a[i] = (unsigned long)req.data.args[i];
    if (nr >= 0 && nr < MAX_NR) { syscall_counts[nr]++; dirty = 1; }
    struct task *t = task_find((int)req.pid);
    if (!t) { answer(req.id); return; }
    char *p = NULL;
    int refused = 0, slash = 0;
    if (t->memfd < 0 && !t->unreadable) {
        p = lookup_path(t, nr, a, &refused, &slash);
        if (refused && (t->memfd = open_mem(t->pid)) < 0) t->unreadable = 1;
        if (t->memfd >= 0) n_became++;
    }
    if (t->memfd >= 0) p = lookup_path(t, nr, a, &refused, &slash);
    if (t->unreadable || refused) {
        unreadable++;
        if (debug) fprintf(stderr, "harden-sensor: unreadable lookup: syscall %ld, pid %d (%s)\n", nr, t->pid, t->comm);
    }
    if (p) record_lookup(nr, a, p, slash, t->comm);
    free(p);
    answer(req.id);
}

// ---- fragments ----
static char run_id[160], host[65], started_at[32], out_dir[1024] = "/var/run/harden-profile", image_id[80];
static double started_mono;
static char **app_argv;
static int use_stderr, sequence, exit_code = -1, exit_signal = -1;
static const char *mode = "seccomp";
static char warnings[4][256]; static int n_warnings;

static double mono(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (double)ts.tv_sec + ts.tv_nsec / 1e9; }
static void iso_now(char out[32]) {
    struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm; gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
static void say(const char *fmt, const char *a, const char *b) {
    char m[512];
    int n = snprintf(m, sizeof m, fmt, a ? a : "", b ? b : "");
    if (n > 0) (void)!write(2, m, (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
}
static void warn(const char *text) {
    if (n_warnings < 4) snprintf(warnings[n_warnings++], 256, "%s", text);
    say("harden-sensor: %s\n", text, NULL);
}

static void fragment(struct buf *b, int final) {
    char now[32]; iso_now(now);
    buf_fmt(b, "{\"format\":\"harden-sensor-fragment\",\"version\":1,\"run\":");
    buf_json(b, run_id, strlen(run_id));
    buf_str(b, ",\"host\":"); buf_json(b, host, strlen(host));
    if (image_id[0]) { buf_str(b, ",\"image\":"); buf_json(b, image_id, strlen(image_id)); }
    buf_str(b, ",\"outputDirectory\":"); buf_json(b, out_dir, strlen(out_dir));
    buf_fmt(b, ",\"startedAt\":\"%s\",\"flushedAt\":\"%s\",\"durationSeconds\":%.3f,\"sequence\":%d,\"final\":%s,\"mode\":\"%s\"",
            started_at, now, mono() - started_mono, sequence, final ? "true" : "false", mode);
    buf_str(b, ",\"command\":[");
    for (int i = 0; app_argv && app_argv[i]; i++) { if (i) buf_str(b, ","); buf_json(b, app_argv[i], strlen(app_argv[i])); }
    buf_fmt(b, "],\"uid\":%u,\"gid\":%u", (unsigned)getuid(), (unsigned)getgid());
    if (exit_code >= 0) buf_fmt(b, ",\"exitCode\":%d", exit_code);
    if (exit_signal >= 0) buf_fmt(b, ",\"exitSignal\":%d", exit_signal);
    buf_fmt(b, ",\"processes\":%lu,\"unreadableArguments\":%lu,\"warnings\":[", processes, unreadable);
    for (int i = 0; i < n_warnings; i++) { if (i) buf_str(b, ","); buf_json(b, warnings[i], strlen(warnings[i])); }
    buf_str(b, "],\"paths\":[");
    for (size_t i = 0; i < npaths; i++) {
        struct path_rec *r = &paths[i];
        if (i) buf_str(b, ",");
        buf_str(b, "{\"path\":"); buf_json(b, r->path, strlen(r->path));
        buf_str(b, ",\"operations\":{");
        int first = 1;
        for (int k = 0; k < K_COUNT; k++) if (r->ops[k]) { buf_fmt(b, "%s\"%s\":%u", first ? "" : ",", kind_names[k], r->ops[k]); first = 0; }
        buf_str(b, "},\"failures\":{");
        first = 1;
        for (int k = 0; k < MAX_FAIL; k++) if (r->fail_n[k]) { buf_fmt(b, "%s\"%d\":%u", first ? "" : ",", r->fail_err[k], r->fail_n[k]); first = 0; }
        buf_str(b, "}");
        if (r->process[0]) { buf_str(b, ",\"process\":"); buf_json(b, r->process, strlen(r->process)); }
        buf_str(b, "}");
    }
    buf_str(b, "],\"executions\":[");
    for (size_t i = 0; i < nexecs; i++) {
        struct exec_rec *e = &execs[i];
        if (i) buf_str(b, ",");
        buf_str(b, "{\"path\":"); buf_json(b, e->key, strlen(e->key));
        buf_str(b, ",\"argv\":[");
        size_t at = strlen(e->key) + 1; int first = 1;
        while (at < e->keylen) { size_t l = strlen(e->key + at); if (!first) buf_str(b, ","); buf_json(b, e->key + at, l); first = 0; at += l + 1; }
        buf_fmt(b, "],\"count\":%u,\"uid\":%u,\"gid\":%u,\"setid\":%s}", e->count, e->uid, e->gid, e->setid ? "true" : "false");
    }
    buf_str(b, "],\"syscalls\":{");
    int first = 1;
    for (int i = 0; i < MAX_NR; i++) if (syscall_counts[i]) { buf_fmt(b, "%s\"%d\":%lu", first ? "" : ",", i, syscall_counts[i]); first = 0; }
    buf_str(b, "},\"untraced\":[");
    for (int i = 0; i < n_sorted; i++) buf_fmt(b, "%s%ld", i ? "," : "", sorted_untraced[i]);
    buf_str(b, "],\"uids\":[");
    for (int i = 0; i < n_uid; i++) buf_fmt(b, "%s%u", i ? "," : "", ids_uid[i]);
    buf_str(b, "],\"gids\":[");
    for (int i = 0; i < n_gid; i++) buf_fmt(b, "%s%u", i ? "," : "", ids_gid[i]);
    buf_str(b, "],\"ports\":[");
    for (int i = 0; i < n_ports; i++)
        buf_fmt(b, "%s{\"protocol\":\"%s\",\"port\":%d,\"address\":\"%s\"}", i ? "," : "", ports[i].proto, ports[i].port, ports[i].address);
    buf_str(b, "]}\n");
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

// Writes the fragment: atomically into the output directory, or to stderr between marker lines, in pieces of at
// most 3,000 bytes per line, each naming its run and sequence (one write(2) each: the app's output, or another pod's
// in merged logs, never splits one).
static void flush(int final) {
    if (!dirty && !final) return;
    sequence++;
    struct buf b = {0};
    fragment(&b, final);
    dirty = 0;
    if (!use_stderr) {
        char tmp[1400], dst[1400];
        snprintf(dst, sizeof dst, "%s/%s.json", out_dir, run_id);
        snprintf(tmp, sizeof tmp, "%s/.%s.json.tmp", out_dir, run_id);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0 && write_all(fd, b.p, b.n) == 0 && fsync(fd) == 0 && close(fd) == 0 && rename(tmp, dst) == 0) { free(b.p); return; }
        if (fd >= 0) { close(fd); unlink(tmp); }
        char m[256]; snprintf(m, sizeof m, "cannot write %.150s (%s); fragments go to standard error", out_dir, strerror(errno));
        warn(m);
        use_stderr = 1;
    }
    char line[3200];
    int n = snprintf(line, sizeof line, "harden-sensor: BEGIN FRAGMENT %s %d\n", run_id, sequence);
    write_all(2, line, (size_t)n);
    size_t body = b.n - 1;  // without the final newline
    for (size_t at = 0; at < body; at += 3000) {
        size_t k = body - at < 3000 ? body - at : 3000;
        n = snprintf(line, sizeof line, "harden-sensor: D %s %d %.*s\n", run_id, sequence, (int)k, b.p + at);
        write_all(2, line, (size_t)n);
    }
    n = snprintf(line, sizeof line, "harden-sensor: END FRAGMENT %s %d %zu\n", run_id, sequence, body);
    write_all(2, line, (size_t)n);
    free(b.p);
}

// ---- the app ----
static sigset_t forwarded;
// The sensor's handler for the signals it forwards never runs (they stay blocked, read from a signalfd); it exists so
// that they are handled, not defaulted, in PID 1.
static void on_signal(int s) { (void)s; }

// The child's report on the control socket: one byte, and the listener descriptor with 'N'.
static int send_report(int sock, char c, int fd) {
    struct iovec io = {&c, 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr m;
    memset(&m, 0, sizeof m); memset(&u, 0, sizeof u);
    m.msg_iov = &io; m.msg_iovlen = 1;
    if (fd >= 0) {
        m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}
static char receive_report(int sock, int *fd) {
    char c = 0;
    struct iovec io = {&c, 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = u.buf; m.msg_controllen = sizeof u.buf;
    *fd = -1;
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1) return 0;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(cm), sizeof *fd);
    return c;
}

// In the child: waits for the sensor's word on `ctl` ('S': seized, trace; 'U': run untraced), installs the filter
// (with a notification listener when the kernel has them), reports ('N' + the listener, 'T': ptrace only, 'D': filter
// refused), waits for 'G', and runs the app.
static void child(char **argv, int ctl, int want_trace) {
    char go = 'U';
    if (want_trace && read(ctl, &go, 1) != 1) go = 'U';
    if (go == 'S') {
        char c = 'D';
        int fd = -1;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
            build_filter(1);
            struct sock_fprog fp = {(unsigned short)plen, prog};
            if (want_notify) fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
            if (fd >= 0) c = 'N';
            else {
                build_filter(0);
                fp.len = (unsigned short)plen;
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) == 0) c = 'T';
            }
        }
        if (send_report(ctl, c, fd) != 0 || read(ctl, &go, 1) != 1) _exit(125);
        if (fd >= 0) close(fd);
    }
    close(ctl);
    // The app starts with default dispositions and nothing blocked, as under any runtime.
    for (int s = 1; s < 65; s++) signal(s, SIG_DFL);
    sigset_t none; sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    int e = errno;
    say("harden-sensor: %s: %s\n", argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

// Seizes the app (before its filter exists: a traced call without a tracer would fail), lets it install the filter
// and start. Returns 1 when it is traced.
static int start_tracing(int ctl, int want_trace) {
    if (!want_trace) { warn("HARDEN_SENSOR=off: the app runs untraced"); return 0; }
    long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                   PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP;
    if (ptrace(PTRACE_SEIZE, app_pid, NULL, (void *)options) != 0) {
        (void)!write(ctl, "U", 1);
        warn("ptrace refused; the app runs untraced");
        return 0;
    }
    int fd = -1;
    char c = write(ctl, "S", 1) == 1 ? receive_report(ctl, &fd) : 0;
    if (c == 'N') {
        listener = fd;
        uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
        (void)ioctl(listener, NOTIF_SET_FLAGS, flags);  // before Linux 6.6: slower wake-ups, same answers
    } else if (fd >= 0) close(fd);
    if (c == 'N' || c == 'T') {
        struct task *t = task_add(app_pid);
        processes++;
        read_comm(app_pid, t->comm);
        traced = 1;
    } else {
        // The filter was refused: leave the app (stopped first: a running tracee cannot be detached).
        int status;
        if (ptrace(PTRACE_INTERRUPT, app_pid, NULL, NULL) == 0 && waitpid(app_pid, &status, __WALL) == app_pid && WIFSTOPPED(status))
            ptrace(PTRACE_DETACH, app_pid, NULL, NULL);
        if (c == 'D') warn("seccomp filter refused; the app runs untraced");
    }
    (void)!write(ctl, "G", 1);
    return traced;
}

static void resume(struct task *t, int sig) {
    ptrace(t->await ? PTRACE_SYSCALL : PTRACE_CONT, t->pid, NULL, (void *)(long)sig);
}

static int handle_stop(int pid, int status) {
    struct task *t = task_find(pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        if (t) task_remove(t);
        return 0;
    }
    if (!WIFSTOPPED(status)) return 0;
    int sig = WSTOPSIG(status), event = status >> 16;
    if (!t) {
        // A new tracee whose fork event has not come yet: its creator (from /proc) gives its name.
        t = task_add(pid);
        t->fresh = 1;
        processes++;
        read_comm(pid, t->comm);
    }
    struct user_regs_struct regs;
    if (sig == (SIGTRAP | 0x80)) {
        if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0 && t->await) syscall_exit(t, &regs);
        t->await = 0;
        resume(t, 0);
        return 0;
    }
    if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
        if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) == 0) syscall_entry(t, &regs);
        resume(t, 0);
        return 0;
    }
    if (sig == SIGTRAP && (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE)) {
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg);
        int c = (int)msg;
        struct task *ct = task_find(c);
        if (!ct) { ct = task_add(c); ct->fresh = 1; processes++; t = task_find(pid); }
        memcpy(ct->comm, t->comm, 16);
        ct->tgid = event == PTRACE_EVENT_CLONE && (t->args[0] & 0x10000 /* CLONE_THREAD */) ? t->tgid : c;
        if (t->cwd && !ct->cwd) ct->cwd = xstrdup(t->cwd);
        resume(t, 0);
        return 0;
    }
    if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
        unsigned long former = 0;
        ptrace(PTRACE_GETEVENTMSG, pid, NULL, &former);
        if ((int)former != pid) {
            // A thread other than the leader exec'd: its pending call moves to the leader's pid.
            struct task *old = task_find((int)former);
            if (old) {
                for (int i = 0; i < old->npath; i++) t->path[i] = old->path[i];
                t->npath = old->npath; old->npath = 0;
                t->execkey = old->execkey; t->execkeylen = old->execkeylen; old->execkey = NULL;
                t->kind = old->kind;
                task_remove(old);
                t = task_find(pid);
            }
        }
        exec_event(t);
        resume(t, 0);
        return 0;
    }
    if (event == PTRACE_EVENT_STOP) {
        t->fresh = 0;
        // A group-stop (SIGSTOP, SIGTSTP, …) stays a stop until SIGCONT; any other (a new process, an interrupt) runs on.
        if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) ptrace(PTRACE_LISTEN, pid, NULL, NULL);
        else resume(t, 0);
        return 0;
    }
    if (t->fresh && sig == SIGSTOP) { t->fresh = 0; resume(t, 0); return 0; }
    t->fresh = 0;
    resume(t, sig);
    return 0;
}

// Ends (or stops) tracees' stops and children's exits until none is left; 1 when the app has ended.
static int reap(void) {
    for (;;) {
        int status;
        int pid = waitpid(-1, &status, __WALL | WNOHANG);
        if (pid == 0) return 0;
        if (pid < 0) return errno == EINTR ? 0 : 1;  // ECHILD: no child left
        if (pid == app_pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
            if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
            else { exit_signal = WTERMSIG(status); exit_code = 128 + exit_signal; }
            return 1;
        }
        if (traced) handle_stop(pid, status);
    }
}

// The sensor's loop: notifications, tracee stops and ended children (SIGCHLD), forwarded signals, the flush tick.
static void run_loop(int sigfd, double interval) {
    double next_flush = mono() + interval;
    for (;;) {
        struct pollfd fds[2] = {{sigfd, POLLIN, 0}, {listener, POLLIN, 0}};
        double wait = next_flush - mono();
        int n = poll(fds, listener >= 0 ? 2 : 1, wait <= 0 ? 0 : (int)(wait * 1000) + 1);
        if (n < 0 && errno != EINTR) break;
        if (mono() >= next_flush) { flush(0); next_flush = mono() + interval; }
        if (n <= 0) continue;
        if (listener >= 0 && (fds[1].revents & POLLIN)) notification();
        else if (listener >= 0 && (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL))) { close(listener); listener = -1; }
        if (!(fds[0].revents & POLLIN)) continue;
        struct signalfd_siginfo si;
        int ended = 0;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            int s = (int)si.ssi_signo;
            if (s == SIGCHLD) continue;
            kill(app_pid, s);
            if (s == SIGTERM || s == SIGINT) flush(0);  // before a SIGKILL that may follow the grace period
        }
        ended = reap();
        if (ended) break;
    }
}

static int parse_seconds(const char *s, double *out) {
    char *end; double v = strtod(s, &end);
    if (end == s || *end || v < 0.1 || v > 86400) return -1;
    *out = v; return 0;
}

static void usage(void) {
    say("usage: harden-sensor [--output-dir DIR] [--flush-interval SECONDS] [--image-id DIGEST] -- COMMAND [ARG...]%s%s\n", NULL, NULL);
    _exit(125);
}

int main(int argc, char **argv) {
    double interval = 10;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (!strcmp(argv[i], "--output-dir") && i + 1 < argc) { snprintf(out_dir, sizeof out_dir, "%s", argv[++i]); continue; }
        if (!strcmp(argv[i], "--flush-interval") && i + 1 < argc) { if (parse_seconds(argv[++i], &interval)) usage(); continue; }
        if (!strcmp(argv[i], "--image-id") && i + 1 < argc) { snprintf(image_id, sizeof image_id, "%s", argv[++i]); continue; }
        if (!strcmp(argv[i], "--version")) { say("harden-sensor 1%s%s\n", NULL, NULL); return 0; }
        usage();
    }
    if (i >= argc) { say("harden-sensor: no command to run (the image has neither entrypoint nor cmd)%s%s\n", NULL, NULL); return 127; }
    app_argv = argv + i;
    const char *env_dir = getenv("HARDEN_SENSOR_OUTPUT_DIR");
    if (env_dir && *env_dir) snprintf(out_dir, sizeof out_dir, "%s", env_dir);
    const char *env_int = getenv("HARDEN_SENSOR_FLUSH_INTERVAL");
    if (env_int && *env_int && parse_seconds(env_int, &interval)) { say("harden-sensor: HARDEN_SENSOR_FLUSH_INTERVAL: not a number of seconds (0.1–86400)%s%s\n", NULL, NULL); return 125; }
    const char *off = getenv("HARDEN_SENSOR");
    int want_trace = !(off && !strcmp(off, "off"));
    debug = getenv("HARDEN_SENSOR_DEBUG") != NULL;
    const char *notify = getenv("HARDEN_SENSOR_NOTIFY");
    want_notify = !(notify && !strcmp(notify, "off"));

    struct utsname u;
    snprintf(host, sizeof host, "%s", uname(&u) == 0 ? u.nodename : "unknown");
    iso_now(started_at);
    started_mono = mono();
    unsigned char rnd[4] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) { unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL); memcpy(rnd, &v, 4); }
    char safe[65]; size_t k = 0;
    for (const char *h = host; *h && k < 64; h++) safe[k++] = (*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '-' || *h == '.' ? *h : '_';
    safe[k] = 0;
    snprintf(run_id, sizeof run_id, "%s-%lld-%02x%02x%02x%02x", safe, (long long)time(NULL), rnd[0], rnd[1], rnd[2], rnd[3]);
    struct stat st;
    if (stat(out_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(out_dir, W_OK) != 0) {
        char m[256]; snprintf(m, sizeof m, "%.150s is not a writable directory (mount a volume there); fragments go to standard error", out_dir);
        warn(m);
        use_stderr = 1;
    }

    // Signals: forwarded to the app, all but the ones only the kernel sends for faults, and SIGCHLD. Handled
    // (so whoever looks at SigCgt in /proc sees that PID 1 handles them, as with tini, and the kernel does not drop them
    // as it does for a PID 1 without a handler), and blocked: they are read from a signalfd, with SIGCHLD (a child
    // ended or a tracee stopped), beside the notification descriptor.
    sigset_t watched;
    sigemptyset(&forwarded);
    for (int s = 1; s < 65; s++) {
        if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD || s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE ||
            s == SIGTRAP || s == SIGSYS || s == SIGABRT || s == SIGPIPE || (s >= 32 && s < SIGRTMIN))
            continue;
        sigaddset(&forwarded, s);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    for (int s = 1; s < 65; s++) if (sigismember(&forwarded, s)) sigaction(s, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    own_euid = geteuid(); own_egid = getegid();
    getresuid(&own_uid, &own_euid, &own_suid);
    getresgid(&own_gid, &own_egid, &own_sgid);
    // Everything blocked across the fork (no handler may run in the child before it resets them), then only what the
    // signalfd reads, whatever mask was inherited.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    watched = forwarded;
    sigaddset(&watched, SIGCHLD);
    int sigfd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) { say("harden-sensor: signalfd: %s%s\n", strerror(errno), NULL); return 125; }

    int ctl[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) { say("harden-sensor: socketpair: %s%s\n", strerror(errno), NULL); return 125; }
    app_pid = fork();
    if (app_pid < 0) { say("harden-sensor: fork: %s%s\n", strerror(errno), NULL); return 125; }
    if (app_pid == 0) { close(ctl[0]); close(sigfd); child(app_argv, ctl[1], want_trace); }
    sigprocmask(SIG_SETMASK, &watched, NULL);
    close(ctl[1]);
    build_filter(0);  // the parent's copy: the untraced list it reports
    if (!start_tracing(ctl[0], want_trace)) mode = "untraced";
    close(ctl[0]);
    run_loop(sigfd, interval);
    flush(1);
    if (debug) fprintf(stderr, "harden-sensor: %lu lookups notified, %lu memory files opened under a process's ids\n", n_notified, n_became);
    return exit_code;
}
