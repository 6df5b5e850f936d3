/*
 * A power-loss recorder, loaded into a process with LD_PRELOAD (the way SQLite's own crash
 * tests simulate a power failure, but outside the process's code).
 *
 * It passes every call through, and for each regular file directly inside CONFAB_SHIM_WATCH
 * (except `*-shm`: shared memory, never durable) it appends to the journal CONFAB_SHIM_JOURNAL
 * what changed the file's contents and what made them durable:
 *
 *   WRITE    file, offset, bytes      write, pwrite, pwrite64, writev, pwritev, pwritev64,
 *                                     pwritev2, pwritev64v2
 *   TRUNCATE file, size               ftruncate, ftruncate64, truncate, truncate64, O_TRUNC
 *   EXTEND   file, size               fallocate (mode 0), posix_fallocate
 *   SYNC     file, upto               fsync, fdatasync: every change of that file journaled
 *                                     before the call began (records 0..upto) is durable once
 *                                     it returns 0, whichever descriptor it came through
 *   SYNCALL  upto                     sync, syncfs
 *   UNLINK   file                     unlink, unlinkat
 *   UNSUPPORTED file, what            anything this model cannot represent (a rename, a shared
 *                                     writable mapping, O_SYNC/O_DSYNC/O_DIRECT, a hole punched,
 *                                     copy_file_range/sendfile/splice into the file): the test
 *                                     fails on it rather than trust a wrong model
 *   CANCEL / FIXUP                    the previous record's call failed / wrote fewer bytes
 *
 * sync_file_range and msync are not intercepted: they make nothing durable.
 *
 * CONFAB_SHIM_SYNC_DELAY_US, if set, makes each fsync/fdatasync of a watched file take a random
 * time up to that many microseconds longer (after the position it covers is taken): a slow
 * disk, which widens the window in which a server that answered before its sync is caught.
 *
 * Changes are journaled before the real call (intent first), under one lock held across the
 * journal write and the real call, so the journal's order is the order the calls took effect
 * in and a process killed at any moment leaves at most its last record unperformed. A SYNC is
 * appended after the real call returns, with the position the journal had before it began.
 * The journal is written with raw system calls (never through the functions wrapped here).
 *
 * Record: u32 magic 'CFJ1', u32 op, u64 a, u64 b, u32 name_len, u32 zero; name; then, for a
 * WRITE, b bytes of data. The test (tests/faults/powerloss/mod.rs) reads it back.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAGIC 0x314a4643u /* "CFJ1" */
enum {
    OP_WRITE = 1,
    OP_TRUNCATE = 2,
    OP_EXTEND = 3,
    OP_SYNC = 4,
    OP_SYNCALL = 5,
    OP_UNLINK = 6,
    OP_UNSUPPORTED = 7,
    OP_CANCEL = 8,
    OP_FIXUP = 9,
};

struct header {
    uint32_t magic;
    uint32_t op;
    uint64_t a;
    uint64_t b;
    uint32_t name_len;
    uint32_t zero;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int enabled;
static int journal = -1;
static char watch_dir[PATH_MAX];
static size_t watch_len;
/* Records appended so far: the position a SYNC's `upto` names. Under `lock`. */
static uint64_t records;
/* The longest wait before a sync, in microseconds (CONFAB_SHIM_SYNC_DELAY_US). */
static unsigned long sync_delay_us;

/* The real functions, resolved on first use (constructors of other libraries may call them
 * before this library's constructor has run). */
#define REAL(ret, name, ...)                                                                  \
    static ret (*real_##name)(__VA_ARGS__);                                                   \
    static ret (*get_##name(void))(__VA_ARGS__) {                                             \
        if (!real_##name) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);         \
        return real_##name;                                                                   \
    }
REAL(ssize_t, write, int, const void *, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
REAL(ssize_t, writev, int, const struct iovec *, int)
REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t)
REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
REAL(ssize_t, pwritev64v2, int, const struct iovec *, int, off64_t, int)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off64_t)
REAL(int, truncate, const char *, off_t)
REAL(int, truncate64, const char *, off64_t)
REAL(int, fallocate, int, int, off_t, off_t)
REAL(int, fallocate64, int, int, off64_t, off64_t)
REAL(int, posix_fallocate, int, off_t, off_t)
REAL(int, posix_fallocate64, int, off64_t, off64_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(void, sync, void)
REAL(int, syncfs, int)
REAL(int, unlink, const char *)
REAL(int, unlinkat, int, const char *, int)
REAL(int, rename, const char *, const char *)
REAL(int, renameat, int, const char *, int, const char *)
REAL(int, renameat2, int, const char *, int, const char *, unsigned int)
REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(void *, mmap, void *, size_t, int, int, int, off_t)
REAL(void *, mmap64, void *, size_t, int, int, int, off64_t)
REAL(ssize_t, copy_file_range, int, off64_t *, int, off64_t *, size_t, unsigned int)
REAL(ssize_t, sendfile, int, int, off_t *, size_t)
REAL(ssize_t, sendfile64, int, int, off64_t *, size_t)
REAL(ssize_t, splice, int, off64_t *, int, off64_t *, size_t, unsigned int)

__attribute__((constructor)) static void init(void) {
    const char *watch = getenv("CONFAB_SHIM_WATCH");
    const char *path = getenv("CONFAB_SHIM_JOURNAL");
    if (!watch || !path || !*watch || !*path) return;
    if (!realpath(watch, watch_dir)) {
        fprintf(stderr, "confab shim: cannot resolve %s\n", watch);
        abort();
    }
    watch_len = strlen(watch_dir);
    const char *delay = getenv("CONFAB_SHIM_SYNC_DELAY_US");
    if (delay) sync_delay_us = strtoul(delay, NULL, 10);
    journal = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                           0644);
    if (journal < 0) {
        fprintf(stderr, "confab shim: cannot open the journal %s\n", path);
        abort();
    }
    enabled = 1;
}

static void raw_write_all(const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        long n = syscall(SYS_write, journal, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            /* A journal that silently lost a record would make the test trust a wrong model. */
            static const char msg[] = "confab shim: journal write failed\n";
            syscall(SYS_write, 2, msg, sizeof msg - 1);
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Appends one record; `lock` is held. */
static void append(uint32_t op, const char *name, uint64_t a, uint64_t b, const struct iovec *iov,
                   int iovcnt) {
    int saved = errno;
    struct header h = {MAGIC, op, a, b, name ? (uint32_t)strlen(name) : 0, 0};
    raw_write_all(&h, sizeof h);
    if (h.name_len) raw_write_all(name, h.name_len);
    for (int i = 0; i < iovcnt; i++) raw_write_all(iov[i].iov_base, iov[i].iov_len);
    records++;
    errno = saved;
}

/* Whether `path` (absolute, canonical) is a watched file; its name in `name` if so. */
static int watched_path(const char *path, char *name) {
    if (strncmp(path, watch_dir, watch_len) != 0 || path[watch_len] != '/') return 0;
    const char *base = path + watch_len + 1;
    size_t len = strlen(base);
    if (len == 0 || len >= NAME_MAX || strchr(base, '/')) return 0;
    if (len >= 4 && strcmp(base + len - 4, "-shm") == 0) return 0;
    /* A file already unlinked: nothing written to it can be found after a power loss. */
    if (len >= 10 && strcmp(base + len - 10, " (deleted)") == 0) return 0;
    memcpy(name, base, len + 1);
    return 1;
}

/* Whether `fd` is open on a watched regular file; its name in `name` if so. */
static int watched_fd(int fd, char *name) {
    if (!enabled || fd < 0) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return watched_path(path, name);
}

/* Whether `path`, relative to `dirfd`, names a watched file (the file need not exist). */
static int watched_at(int dirfd, const char *path, char *name) {
    if (!enabled || !path) return 0;
    char dir[PATH_MAX], full[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(full, sizeof full, "%s", path);
    } else {
        if (dirfd == AT_FDCWD) {
            if (!getcwd(dir, sizeof dir)) return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, dir, sizeof dir - 1);
            if (n <= 0) return 0;
            dir[n] = 0;
        }
        snprintf(full, sizeof full, "%s/%s", dir, path);
    }
    /* Canonical directory, literal last component (the file may not exist yet). */
    char *slash = strrchr(full, '/');
    if (!slash) return 0;
    *slash = 0;
    char canon[PATH_MAX];
    if (!realpath(full[0] ? full : "/", canon)) return 0;
    char joined[PATH_MAX * 2];
    snprintf(joined, sizeof joined, "%s/%s", canon, slash + 1);
    return watched_path(joined, name);
}

/* A write of `iov` at `offset` (or at the descriptor's position if `offset` < 0), performed by
 * `perform` with the lock held. */
static ssize_t journaled_write(int fd, const struct iovec *iov, int iovcnt, int64_t offset,
                               ssize_t (*perform)(void *), void *arg) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return perform(arg);
    pthread_mutex_lock(&lock);
    if (offset < 0) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_APPEND)) {
            struct stat st;
            offset = fstat(fd, &st) == 0 ? st.st_size : -1;
        } else {
            offset = lseek(fd, 0, SEEK_CUR);
        }
        if (offset < 0) {
            append(OP_UNSUPPORTED, name, 1, 0, NULL, 0);
            ssize_t r = perform(arg);
            pthread_mutex_unlock(&lock);
            return r;
        }
    }
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    append(OP_WRITE, name, (uint64_t)offset, len, iov, iovcnt);
    ssize_t r = perform(arg);
    int saved = errno;
    if (r < 0)
        append(OP_CANCEL, name, 0, 0, NULL, 0);
    else if ((uint64_t)r < len)
        append(OP_FIXUP, name, (uint64_t)r, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

struct call {
    int fd;
    const void *buf;
    size_t n;
    const struct iovec *iov;
    int iovcnt;
    int64_t off;
    int flags;
    int which;
};

static ssize_t perform_call(void *p) {
    struct call *c = p;
    switch (c->which) {
    case 0: return get_write()(c->fd, c->buf, c->n);
    case 1: return get_pwrite()(c->fd, c->buf, c->n, (off_t)c->off);
    case 2: return get_pwrite64()(c->fd, c->buf, c->n, (off64_t)c->off);
    case 3: return get_writev()(c->fd, c->iov, c->iovcnt);
    case 4: return get_pwritev()(c->fd, c->iov, c->iovcnt, (off_t)c->off);
    case 5: return get_pwritev64()(c->fd, c->iov, c->iovcnt, (off64_t)c->off);
    case 6: return get_pwritev2()(c->fd, c->iov, c->iovcnt, (off_t)c->off, c->flags);
    default: return get_pwritev64v2()(c->fd, c->iov, c->iovcnt, (off64_t)c->off, c->flags);
    }
}

ssize_t write(int fd, const void *buf, size_t n) {
    struct iovec v = {(void *)buf, n};
    struct call c = {fd, buf, n, NULL, 0, -1, 0, 0};
    return journaled_write(fd, &v, 1, -1, perform_call, &c);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    struct iovec v = {(void *)buf, n};
    struct call c = {fd, buf, n, NULL, 0, off, 0, 1};
    return journaled_write(fd, &v, 1, off, perform_call, &c);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    struct iovec v = {(void *)buf, n};
    struct call c = {fd, buf, n, NULL, 0, off, 0, 2};
    return journaled_write(fd, &v, 1, off, perform_call, &c);
}
ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    struct call c = {fd, NULL, 0, iov, iovcnt, -1, 0, 3};
    return journaled_write(fd, iov, iovcnt, -1, perform_call, &c);
}
ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off) {
    struct call c = {fd, NULL, 0, iov, iovcnt, off, 0, 4};
    return journaled_write(fd, iov, iovcnt, off, perform_call, &c);
}
ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off) {
    struct call c = {fd, NULL, 0, iov, iovcnt, off, 0, 5};
    return journaled_write(fd, iov, iovcnt, off, perform_call, &c);
}
static ssize_t pwritev2_common(int which, int fd, const struct iovec *iov, int iovcnt, int64_t off,
                               int flags) {
    char name[NAME_MAX + 1];
    if ((flags & (RWF_DSYNC | RWF_SYNC)) && watched_fd(fd, name)) {
        pthread_mutex_lock(&lock);
        append(OP_UNSUPPORTED, name, 2, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
    struct call c = {fd, NULL, 0, iov, iovcnt, off, flags, which};
    return journaled_write(fd, iov, iovcnt, off, perform_call, &c);
}
ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags) {
    return pwritev2_common(6, fd, iov, iovcnt, off, flags);
}
ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags) {
    return pwritev2_common(7, fd, iov, iovcnt, off, flags);
}

/* A change of a file's size (`op` TRUNCATE or EXTEND to `size`), performed by `perform`. */
#define SIZE_CHANGE(name, op, size, perform)                                                  \
    do {                                                                                      \
        pthread_mutex_lock(&lock);                                                            \
        append(op, name, (uint64_t)(size), 0, NULL, 0);                                       \
        int r_ = (perform);                                                                   \
        int saved_ = errno;                                                                   \
        if (r_ != 0) append(OP_CANCEL, name, 0, 0, NULL, 0);                                  \
        pthread_mutex_unlock(&lock);                                                          \
        errno = saved_;                                                                       \
        return r_;                                                                            \
    } while (0)

int ftruncate(int fd, off_t len) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return get_ftruncate()(fd, len);
    SIZE_CHANGE(name, OP_TRUNCATE, len, get_ftruncate()(fd, len));
}
int ftruncate64(int fd, off64_t len) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return get_ftruncate64()(fd, len);
    SIZE_CHANGE(name, OP_TRUNCATE, len, get_ftruncate64()(fd, len));
}
int truncate(const char *path, off_t len) {
    char name[NAME_MAX + 1];
    if (!watched_at(AT_FDCWD, path, name)) return get_truncate()(path, len);
    SIZE_CHANGE(name, OP_TRUNCATE, len, get_truncate()(path, len));
}
int truncate64(const char *path, off64_t len) {
    char name[NAME_MAX + 1];
    if (!watched_at(AT_FDCWD, path, name)) return get_truncate64()(path, len);
    SIZE_CHANGE(name, OP_TRUNCATE, len, get_truncate64()(path, len));
}

static int allocate(int fd, int mode, int64_t off, int64_t len, int (*perform)(void *), void *arg) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return perform(arg);
    if (mode & ~FALLOC_FL_KEEP_SIZE) {
        /* Punching holes, zeroing or collapsing ranges changes contents: not modelled. */
        pthread_mutex_lock(&lock);
        append(OP_UNSUPPORTED, name, 3, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
        return perform(arg);
    }
    if (mode & FALLOC_FL_KEEP_SIZE) return perform(arg); /* reserves blocks, changes nothing */
    SIZE_CHANGE(name, OP_EXTEND, off + len, perform(arg));
}
struct alloc_call {
    int fd, mode;
    int64_t off, len;
    int which;
};
static int perform_alloc(void *p) {
    struct alloc_call *c = p;
    switch (c->which) {
    case 0: return get_fallocate()(c->fd, c->mode, (off_t)c->off, (off_t)c->len);
    case 1: return get_fallocate64()(c->fd, c->mode, (off64_t)c->off, (off64_t)c->len);
    case 2: {
        /* posix_fallocate returns an error number instead of setting errno. */
        int e = get_posix_fallocate()(c->fd, (off_t)c->off, (off_t)c->len);
        if (e) errno = e;
        return e;
    }
    default: {
        int e = get_posix_fallocate64()(c->fd, (off64_t)c->off, (off64_t)c->len);
        if (e) errno = e;
        return e;
    }
    }
}
int fallocate(int fd, int mode, off_t off, off_t len) {
    struct alloc_call c = {fd, mode, off, len, 0};
    return allocate(fd, mode, off, len, perform_alloc, &c);
}
int fallocate64(int fd, int mode, off64_t off, off64_t len) {
    struct alloc_call c = {fd, mode, off, len, 1};
    return allocate(fd, mode, off, len, perform_alloc, &c);
}
int posix_fallocate(int fd, off_t off, off_t len) {
    struct alloc_call c = {fd, 0, off, len, 2};
    return allocate(fd, 0, off, len, perform_alloc, &c);
}
int posix_fallocate64(int fd, off64_t off, off64_t len) {
    struct alloc_call c = {fd, 0, off, len, 3};
    return allocate(fd, 0, off, len, perform_alloc, &c);
}

/* Journal position now: every change journaled before it is in the file. */
static uint64_t position(void) {
    pthread_mutex_lock(&lock);
    uint64_t upto = records;
    pthread_mutex_unlock(&lock);
    return upto;
}

/* A slow disk's flush: after the sync's position is taken, so the sync covers no more than what
 * was written before it began, and its caller waits. */
static void slow_disk(void) {
    if (!sync_delay_us) return;
    static __thread unsigned int seed;
    if (!seed) seed = (unsigned int)(uintptr_t)&seed ^ (unsigned int)getpid();
    usleep((useconds_t)(rand_r(&seed) % (sync_delay_us + 1)));
}

static void synced(uint32_t op, const char *name, uint64_t upto) {
    pthread_mutex_lock(&lock);
    append(op, name, upto, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
}

int fsync(int fd) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return get_fsync()(fd);
    uint64_t upto = position();
    slow_disk();
    int r = get_fsync()(fd);
    if (r == 0) synced(OP_SYNC, name, upto);
    return r;
}
int fdatasync(int fd) {
    char name[NAME_MAX + 1];
    if (!watched_fd(fd, name)) return get_fdatasync()(fd);
    uint64_t upto = position();
    slow_disk();
    int r = get_fdatasync()(fd);
    if (r == 0) synced(OP_SYNC, name, upto);
    return r;
}
void sync(void) {
    if (!enabled) {
        get_sync()();
        return;
    }
    uint64_t upto = position();
    get_sync()();
    synced(OP_SYNCALL, NULL, upto);
}
int syncfs(int fd) {
    if (!enabled) return get_syncfs()(fd);
    uint64_t upto = position();
    int r = get_syncfs()(fd);
    if (r == 0) synced(OP_SYNCALL, NULL, upto);
    return r;
}

int unlink(const char *path) {
    char name[NAME_MAX + 1];
    if (!watched_at(AT_FDCWD, path, name)) return get_unlink()(path);
    pthread_mutex_lock(&lock);
    append(OP_UNLINK, name, 0, 0, NULL, 0);
    int r = get_unlink()(path);
    int saved = errno;
    /* Unlinking a file that is not there changes nothing; any other failure cancels. */
    if (r != 0 && saved != ENOENT) append(OP_CANCEL, name, 0, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int unlinkat(int dirfd, const char *path, int flags) {
    char name[NAME_MAX + 1];
    if ((flags & AT_REMOVEDIR) || !watched_at(dirfd, path, name))
        return get_unlinkat()(dirfd, path, flags);
    pthread_mutex_lock(&lock);
    append(OP_UNLINK, name, 0, 0, NULL, 0);
    int r = get_unlinkat()(dirfd, path, flags);
    int saved = errno;
    if (r != 0 && saved != ENOENT) append(OP_CANCEL, name, 0, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

static void unsupported_path(int dirfd, const char *path, uint64_t what) {
    char name[NAME_MAX + 1];
    if (watched_at(dirfd, path, name)) {
        pthread_mutex_lock(&lock);
        append(OP_UNSUPPORTED, name, what, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
}
int rename(const char *from, const char *to) {
    unsupported_path(AT_FDCWD, from, 4);
    unsupported_path(AT_FDCWD, to, 4);
    return get_rename()(from, to);
}
int renameat(int fromfd, const char *from, int tofd, const char *to) {
    unsupported_path(fromfd, from, 4);
    unsupported_path(tofd, to, 4);
    return get_renameat()(fromfd, from, tofd, to);
}
int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags) {
    unsupported_path(fromfd, from, 4);
    unsupported_path(tofd, to, 4);
    return get_renameat2()(fromfd, from, tofd, to, flags);
}

/* Opening: O_TRUNC truncates a watched file (journaled first); O_SYNC, O_DSYNC and O_DIRECT
 * would make writes durable without a sync, which the model does not represent. */
static int opened(int dirfd, const char *path, int flags, mode_t mode, int which) {
    char name[NAME_MAX + 1];
    int watched = enabled && watched_at(dirfd, path, name);
    if (watched && (flags & (O_SYNC | O_DSYNC | O_DIRECT))) {
        pthread_mutex_lock(&lock);
        append(OP_UNSUPPORTED, name, 5, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
    int truncating = watched && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
    if (truncating) {
        pthread_mutex_lock(&lock);
        append(OP_TRUNCATE, name, 0, 0, NULL, 0);
    }
    int fd;
    switch (which) {
    case 0: fd = get_open()(path, flags, mode); break;
    case 1: fd = get_open64()(path, flags, mode); break;
    case 2: fd = get_openat()(dirfd, path, flags, mode); break;
    default: fd = get_openat64()(dirfd, path, flags, mode); break;
    }
    if (truncating) {
        int saved = errno;
        if (fd < 0) append(OP_CANCEL, name, 0, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
        errno = saved;
    }
    return fd;
}

#define MODE_ARG(flags, mode)                                                                 \
    mode_t mode = 0;                                                                          \
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {                              \
        va_list ap;                                                                           \
        va_start(ap, flags);                                                                  \
        mode = (mode_t)va_arg(ap, int);                                                       \
        va_end(ap);                                                                           \
    }

int open(const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return opened(AT_FDCWD, path, flags, mode, 0);
}
int open64(const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return opened(AT_FDCWD, path, flags, mode, 1);
}
int openat(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return opened(dirfd, path, flags, mode, 2);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return opened(dirfd, path, flags, mode, 3);
}
int __open_2(const char *path, int flags) { return opened(AT_FDCWD, path, flags, 0, 0); }
int __open64_2(const char *path, int flags) { return opened(AT_FDCWD, path, flags, 0, 1); }
int __openat_2(int dirfd, const char *path, int flags) { return opened(dirfd, path, flags, 0, 2); }
int __openat64_2(int dirfd, const char *path, int flags) {
    return opened(dirfd, path, flags, 0, 3);
}
int creat(const char *path, mode_t mode) {
    return opened(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0);
}
int creat64(const char *path, mode_t mode) {
    return opened(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 1);
}

static void unsupported_fd(int fd, uint64_t what) {
    char name[NAME_MAX + 1];
    if (watched_fd(fd, name)) {
        pthread_mutex_lock(&lock);
        append(OP_UNSUPPORTED, name, what, 0, NULL, 0);
        pthread_mutex_unlock(&lock);
    }
}
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if ((prot & PROT_WRITE) && (flags & MAP_SHARED)) unsupported_fd(fd, 6);
    return get_mmap()(addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
    if ((prot & PROT_WRITE) && (flags & MAP_SHARED)) unsupported_fd(fd, 6);
    return get_mmap64()(addr, len, prot, flags, fd, off);
}
ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                        unsigned int flags) {
    unsupported_fd(out, 7);
    return get_copy_file_range()(in, in_off, out, out_off, len, flags);
}
ssize_t sendfile(int out, int in, off_t *off, size_t len) {
    unsupported_fd(out, 7);
    return get_sendfile()(out, in, off, len);
}
ssize_t sendfile64(int out, int in, off64_t *off, size_t len) {
    unsupported_fd(out, 7);
    return get_sendfile64()(out, in, off, len);
}
ssize_t splice(int in, off64_t *in_off, int out, off64_t *out_off, size_t len, unsigned int flags) {
    unsupported_fd(out, 7);
    return get_splice()(in, in_off, out, out_off, len, flags);
}
