/*
 * The shim's self-test: a program that changes files under the shim in known ways, says
 * "ready" and waits to be killed (kill -9). tests/faults/main.rs then checks what the journal
 * makes of it.
 *
 *   selftest <dir> model        synced and unsynced writes, through several calls
 *   selftest <dir> bypass       a write the shim cannot see (a raw system call)
 *   selftest <dir> unsupported  a rename of a watched file
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static char path_buf[4096];
static const char *at(const char *dir, const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static void must(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static char *filled(char c, size_t n) {
    char *p = malloc(n);
    memset(p, c, n);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *dir = argv[1], *scenario = argv[2];
    int f = open(at(dir, "data"), O_RDWR | O_CREAT, 0644);
    must(f >= 0, "open data");
    /* Written and synced: durable. */
    must(pwrite(f, filled('A', 4096), 4096, 0) == 4096, "pwrite A");
    must(fsync(f) == 0, "fsync");
    if (strcmp(scenario, "model") == 0) {
        /* Written, never synced: lost. */
        must(pwrite(f, filled('B', 4096), 4096, 4096) == 4096, "pwrite B");
        /* Another file's sync does not cover it, nor does sync_file_range. */
        int g = open(at(dir, "other"), O_RDWR | O_CREAT, 0644);
        must(g >= 0, "open other");
        must(write(g, filled('G', 100), 100) == 100, "write G");
        must(fdatasync(g) == 0, "fdatasync other");
        must(sync_file_range(f, 0, 0, SYNC_FILE_RANGE_WRITE) == 0, "sync_file_range");
        /* A sync through another descriptor of the same file covers what this one wrote. */
        int h1 = open(at(dir, "twofds"), O_RDWR | O_CREAT, 0644);
        int h2 = open(at(dir, "twofds"), O_RDWR);
        must(h1 >= 0 && h2 >= 0, "open twofds");
        must(pwrite(h1, filled('H', 1000), 1000, 0) == 1000, "pwrite H");
        must(fdatasync(h2) == 0, "fdatasync twofds");
        /* More unsynced changes: a size change, then two buffers at the descriptor's position. */
        must(ftruncate(f, 3 * 4096) == 0, "ftruncate");
        must(lseek(f, 3 * 4096, SEEK_SET) == 3 * 4096, "lseek");
        struct iovec iov[2] = {{filled('D', 700), 700}, {filled('E', 700), 700}};
        must(writev(f, iov, 2) == 1400, "writev");
        /* Shared memory is never watched. */
        int s = open(at(dir, "data-shm"), O_RDWR | O_CREAT, 0644);
        must(s >= 0 && write(s, "shm", 3) == 3, "write shm");
    } else if (strcmp(scenario, "bypass") == 0) {
        must(syscall(SYS_pwrite64, f, "X", 1, 10) == 1, "raw pwrite64");
    } else if (strcmp(scenario, "unsupported") == 0) {
        char from[4096];
        snprintf(from, sizeof from, "%s/data", dir);
        must(rename(from, at(dir, "renamed")) == 0, "rename");
    } else {
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
