/* io.c - atomic file writes (temporary file, fsync, rename) and CRC-32. */
#include "realprune/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

/* The folder of path into dir ("." without one, "/" for the root); returns the file name. */
static const char *split_dir(char dir[4096], const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, 4096, ".");
    else if (slash == path)
        snprintf(dir, 4096, "/");
    else
        snprintf(dir, 4096, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

static rp_status sync_dir(const char *path)
{
    char dir[4096];
    split_dir(dir, path);
    int fd = open(dir, O_RDONLY);
    if (fd < 0)
        return RP_OK; /* best effort: the rename itself is atomic */
    fsync(fd);
    close(fd);
    return RP_OK;
}

/* Whether process pid has ended but is not yet reaped (state Z in
 * /proc/PID/stat): an orphan killed with its parent stays so until init
 * waits for it, and some container inits never do. */
static int is_zombie(long pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *close = strrchr(buf, ')'); /* the command name may hold spaces */
    return close && close[1] == ' ' && close[2] == 'Z';
}

/* Removes PATH.tmp.PID files left by writers that were killed mid-write (their
 * process no longer exists, or is a zombie); a live writer's file is left
 * alone. */
static void sweep_stale(const char *path)
{
    char dir[4096];
    const char *base = split_dir(dir, path);
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t n = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, n) != 0 || strncmp(e->d_name + n, ".tmp.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + n + 5, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)getpid())
            continue;
        if ((kill((pid_t)pid, 0) == 0 || errno != ESRCH) && !is_zombie(pid))
            continue;
        char stale[8192];
        if (snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name) < (int)sizeof stale)
            unlink(stale);
    }
    closedir(d);
}

rp_status rp_file_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return rp_error(RP_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return rp_error(RP_EIO, "cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return rp_error(RP_EIO, "cannot write %s: %s (the previous file, if any, is kept)",
                            path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return rp_error(RP_EIO, "cannot write %s: %s (the previous file, if any, is kept)", path,
                        strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rp_error(RP_EIO, "cannot replace %s: %s", path, strerror(e));
    }
    sweep_stale(path);
    return sync_dir(path);
}

rp_status rp_mkdir_p(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (n == 0)
        return rp_error(RP_EINVAL, "mkdir: an empty path");
    char *p = malloc(n + 1);
    if (!p)
        return rp_error(RP_ENOMEM, "mkdir: out of memory");
    memcpy(p, path, n + 1);
    rp_status st = RP_OK;
    /* each prefix ending before a '/', then the whole path */
    for (size_t i = 1; i <= n && st == RP_OK; i++) {
        if (i < n && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            st = rp_error(RP_EIO, "cannot create the folder %s: %s", p, strerror(errno));
        else if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = rp_error(RP_EIO, "cannot create the folder %s: a file of that name is in the way",
                          p);
        p[i] = saved;
    }
    free(p);
    return st;
}

uint32_t rp_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

static int little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* byte i of each 4-byte word of src to byte 3 - i of dst's (or a plain copy) */
static void copy_le(void *dst, const void *src, int64_t n)
{
    if (little_endian()) {
        memcpy(dst, src, 4 * (size_t)n);
        return;
    }
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            d[4 * i + k] = s[4 * i + 3 - k];
}

void rp_f32_to_le(void *dst, const float *src, int64_t n)
{
    copy_le(dst, src, n);
}

void rp_f32_from_le(float *dst, const void *src, int64_t n)
{
    copy_le(dst, src, n);
}
