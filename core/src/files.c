/* files.c - folder listings, PNG files and a bitmap font for plots. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "realprune/io.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct rp_dir_entry *)a)->name, ((const struct rp_dir_entry *)b)->name);
}

void rp_dir_list_free(struct rp_dir_entry *entries, int64_t n)
{
    for (int64_t i = 0; entries && i < n; i++)
        free(entries[i].name);
    free(entries);
}

rp_status rp_dir_list(struct rp_dir_entry **out, int64_t *n, const char *path)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return rp_error(RP_EIO, "cannot open directory %s: %s", path, strerror(errno));
    struct rp_dir_entry *v = NULL;
    int64_t count = 0, cap = 0;
    rp_status st = RP_OK;
    struct dirent *e;
    size_t plen = strlen(path);
    while (st == RP_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            struct rp_dir_entry *grown = realloc(v, sizeof *v * (size_t)cap);
            if (!grown) {
                st = rp_error(RP_ENOMEM, "cannot list %s: out of memory", path);
                break;
            }
            v = grown;
        }
        size_t nlen = strlen(e->d_name);
        char *full = malloc(plen + nlen + 2);
        v[count].name = malloc(nlen + 1);
        if (!full || !v[count].name) {
            free(full);
            free(v[count].name);
            st = rp_error(RP_ENOMEM, "cannot list %s: out of memory", path);
            break;
        }
        memcpy(v[count].name, e->d_name, nlen + 1);
        memcpy(full, path, plen);
        full[plen] = '/';
        memcpy(full + plen + 1, e->d_name, nlen + 1);
        struct stat sb;
        v[count].is_dir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(full);
        count++;
    }
    closedir(d);
    if (st != RP_OK) {
        rp_dir_list_free(v, count);
        return st;
    }
    if (count > 1)
        qsort(v, (size_t)count, sizeof *v, by_name);
    *out = v;
    *n = count;
    return RP_OK;
}

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include "stb_quiet.h"
RP_STB_BEGIN
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
RP_STB_END

rp_status rp_png_write(const char *path, int width, int height, const unsigned char *rgb)
{
    if (width < 1 || height < 1 || width > 32768 || height > 32768)
        return rp_error(RP_EINVAL, "png: image size %dx%d out of range (1 to 32768)", width,
                        height);
    if (!stbi_write_png(path, width, height, 3, rgb, width * 3))
        return rp_error(RP_EIO, "cannot write %s", path);
    return RP_OK;
}

int64_t rp_text_rects(float *rects, int64_t max, const char *text)
{
    /* the font covers the printable ASCII characters (and newlines): any
     * other byte is drawn as '?', never looked up outside its table */
    size_t len = strlen(text);
    char *clean = malloc(len + 1);
    /* at most 2 rectangles per stroke, a few strokes per character: quads of
     * 4 vertices x (x, y, z, color) floats */
    size_t size = 64 * 16 * (len + 1) * sizeof(float) * 4;
    char *buf = malloc(size);
    if (!clean || !buf) {
        free(clean);
        free(buf);
        return 0;
    }
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        clean[i] = c == 0 || c == '\n' || (c >= 32 && c <= 126) ? (char)c : '?';
    }
    int quads =
        stb_easy_font_print(0, 0, clean, NULL, buf, (int)(size < (1u << 30) ? size : (1u << 30)));
    const float *v = (const float *)buf;
    for (int q = 0; q < quads && q < max; q++) {
        const float *p = v + q * 16;
        rects[4 * q] = p[0], rects[4 * q + 1] = p[1];     /* top left */
        rects[4 * q + 2] = p[8], rects[4 * q + 3] = p[9]; /* bottom right */
    }
    free(clean);
    free(buf);
    return quads;
}
