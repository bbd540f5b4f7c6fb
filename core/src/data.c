/* data.c - IDX and CIFAR readers, images through stb_image, batch assembly. */
#include "realprune/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STBI_NO_STDIO_WRITE
/* PNG, JPEG and BMP only: the other decoders are not needed, and one of them
 * (PNM) overflows an int on long header numbers (found by the fuzzer). */
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include "stb_quiet.h"
RP_STB_BEGIN
#include <stb/stb_image.h>
RP_STB_END

void rp_bytes_free(struct rp_bytes *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

rp_status rp_file_read(uint8_t **data, int64_t *size, const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return rp_error(RP_EIO, "cannot open %s: %s", path,
                        errno ? strerror(errno) : "gzopen failed");
    gzbuffer(f, 1 << 17);
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        gzclose(f);
        return rp_error(RP_ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (len == cap) {
            if ((int64_t)cap >= RP_MAX_FILE_BYTES) {
                free(buf);
                gzclose(f);
                return rp_error(RP_EFORMAT, "%s is larger than %lld bytes", path,
                                (long long)RP_MAX_FILE_BYTES);
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                gzclose(f);
                return rp_error(RP_ENOMEM, "out of memory reading %s (%zu bytes so far)", path,
                                len);
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - len;
        if (want > (1u << 30))
            want = 1u << 30;
        int got = gzread(f, buf + len, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            rp_status st = rp_error(RP_EFORMAT, "%s is corrupt or truncated: %s", path,
                                    zerr == Z_ERRNO ? strerror(errno) : msg);
            free(buf);
            gzclose(f);
            return st;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    /* A gzip stream cut short reads as a short file: zlib reports it here. */
    int zerr = Z_OK;
    const char *msg = gzerror(f, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        rp_status st = rp_error(RP_EFORMAT, "%s is corrupt or truncated: %s", path, msg);
        free(buf);
        gzclose(f);
        return st;
    }
    gzclose(f);
    *data = buf;
    *size = (int64_t)len;
    return RP_OK;
}

/* Why the marker segments of a JPEG file cannot be trusted, or NULL: a
 * segment running past the end, or a Huffman table (DHT) of more than 256
 * codes or longer than its segment.  Entropy-coded data after each SOS is
 * skipped up to the next marker. */
static const char *jpeg_tables_bad(const uint8_t *f, int64_t len)
{
    int64_t at = 0;
    while (at + 4 <= len) {
        if (f[at] != 0xFF) { /* stb_image skips bytes between markers: so does this */
            at++;
            continue;
        }
        uint8_t marker = f[at + 1];
        if (marker == 0xFF) { /* fill byte */
            at++;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
            at += 2;
            continue;
        }
        if (marker == 0xD9)
            return NULL;
        int64_t seg = ((int64_t)f[at + 2] << 8) | f[at + 3];
        if (seg < 2 || at + 2 + seg > len)
            return "a JPEG segment runs past the end of the file";
        if (marker == 0xC4) {
            int64_t p = at + 4, end = at + 2 + seg;
            while (p < end) {
                if (p + 17 > end)
                    return "a JPEG Huffman table runs past its segment";
                int64_t codes = 0;
                for (int i = 1; i <= 16; i++)
                    codes += f[p + i];
                if (codes > 256 || p + 17 + codes > end)
                    return "a JPEG Huffman table with more than 256 codes";
                p += 17 + codes;
            }
        }
        at += 2 + seg;
        if (marker == 0xDA) /* scan data: skip to the next marker */
            while (at + 1 < len && !(f[at] == 0xFF && f[at + 1] != 0x00 &&
                                     !(f[at + 1] >= 0xD0 && f[at + 1] <= 0xD7)))
                at++;
    }
    return NULL;
}

/* The most pixels an image file of len bytes may claim: 4 M, plus 1,100 per
 * byte (deflate's limit is about 1,032:1). */
#define MAX_PIXELS_BASE     ((int64_t)1 << 22)
#define MAX_PIXELS_PER_BYTE 1100

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

rp_status rp_idx_read(struct rp_bytes *out, const char *path)
{
    uint8_t *buf;
    int64_t len;
    rp_status st = rp_file_read(&buf, &len, path);
    if (st != RP_OK)
        return st;
    return rp_idx_parse(out, buf, len, path);
}

rp_status rp_idx_parse(struct rp_bytes *out, uint8_t *buf, int64_t len, const char *path)
{
    rp_status st;
    if (len < 4) {
        free(buf);
        return rp_error(RP_EFORMAT, "%s: too short for an IDX file (%lld bytes)", path,
                        (long long)len);
    }
    int type = buf[2], ndim = buf[3];
    if (buf[0] != 0 || buf[1] != 0 || ndim < 1 || ndim > 4) {
        st = rp_error(RP_EFORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x)", path, buf[0],
                      buf[1], buf[2], buf[3]);
        free(buf);
        return st;
    }
    if (type != 0x08) {
        free(buf);
        return rp_error(RP_EFORMAT,
                        "%s: IDX element type 0x%02x is not supported (only unsigned "
                        "bytes, 0x08)",
                        path, type);
    }
    int64_t header = 4 + 4 * (int64_t)ndim;
    if (len < header) {
        free(buf);
        return rp_error(RP_EFORMAT, "%s: truncated IDX header", path);
    }
    int64_t numel = 1;
    int absurd = 0; /* the sizes multiply past any file we would read */
    struct rp_bytes b = {0};
    b.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        b.shape[d] = be32(buf + 4 + 4 * d);
        if (b.shape[d] > 0 && numel > RP_MAX_FILE_BYTES / b.shape[d])
            absurd = 1;
        else
            numel *= b.shape[d];
    }
    if (absurd || numel != len - header) {
        char shape[96];
        rp_shape_string(shape, sizeof shape, ndim, b.shape);
        free(buf);
        if (absurd)
            return rp_error(RP_EFORMAT,
                            "%s: the header promises %s values (more than 8 GiB), "
                            "the file holds %lld bytes of data",
                            path, shape, (long long)(len - header));
        return rp_error(RP_EFORMAT,
                        "%s: the header promises %lld bytes of data (%s), the file "
                        "holds %lld",
                        path, (long long)numel, shape, (long long)(len - header));
    }
    memmove(buf, buf + header, (size_t)numel);
    b.data = buf;
    b.numel = numel;
    *out = b;
    return RP_OK;
}

/* The arguments of the CIFAR and image readers, checked before a file is read. */
static rp_status cifar_args(int label_bytes)
{
    if (label_bytes < 1 || label_bytes > 2)
        return rp_error(RP_EINVAL, "cifar: label_bytes must be 1 or 2, got %d", label_bytes);
    return RP_OK;
}

static rp_status image_args(int channels, int size)
{
    if (channels != 1 && channels != 3)
        return rp_error(RP_EINVAL, "image: channels must be 1 or 3, got %d", channels);
    if (size < 1 || size > 4096)
        return rp_error(RP_EINVAL, "image: size must be in 1..4096, got %d", size);
    return RP_OK;
}

rp_status rp_cifar_read(struct rp_bytes *images, struct rp_bytes *labels, const char *path,
                        int label_bytes)
{
    rp_status st = cifar_args(label_bytes);
    if (st != RP_OK)
        return st;
    uint8_t *buf;
    int64_t len;
    if ((st = rp_file_read(&buf, &len, path)) != RP_OK)
        return st;
    return rp_cifar_parse(images, labels, buf, len, path, label_bytes);
}

rp_status rp_cifar_parse(struct rp_bytes *images, struct rp_bytes *labels, uint8_t *buf,
                         int64_t len, const char *path, int label_bytes)
{
    const int64_t pixels = 3 * 32 * 32, rec = label_bytes + pixels;
    rp_status st = cifar_args(label_bytes);
    if (st != RP_OK) {
        free(buf);
        return st;
    }
    if (len == 0 || len % rec != 0) {
        free(buf);
        return rp_error(RP_EFORMAT,
                        "%s: %lld bytes is not a whole number of %lld-byte CIFAR "
                        "records",
                        path, (long long)len, (long long)rec);
    }
    int64_t n = len / rec;
    struct rp_bytes im = {0}, lb = {0};
    im.data = malloc((size_t)(n * pixels));
    lb.data = malloc((size_t)n);
    if (!im.data || !lb.data) {
        free(im.data);
        free(lb.data);
        free(buf);
        return rp_error(RP_ENOMEM, "out of memory reading %s", path);
    }
    for (int64_t i = 0; i < n; i++) {
        lb.data[i] = buf[i * rec + label_bytes - 1];
        memcpy(im.data + i * pixels, buf + i * rec + label_bytes, (size_t)pixels);
    }
    free(buf);
    im.ndim = 4;
    im.shape[0] = n;
    im.shape[1] = 3;
    im.shape[2] = 32;
    im.shape[3] = 32;
    im.numel = n * pixels;
    lb.ndim = 1;
    lb.shape[0] = n;
    lb.numel = n;
    *images = im;
    *labels = lb;
    return RP_OK;
}

rp_status rp_image_read(struct rp_bytes *out, const char *path, int channels, int size)
{
    rp_status st = image_args(channels, size);
    uint8_t *file;
    int64_t len;
    if (st != RP_OK || (st = rp_file_read(&file, &len, path)) != RP_OK)
        return st;
    return rp_image_decode(out, file, len, path, channels, size);
}

rp_status rp_image_decode(struct rp_bytes *out, uint8_t *file, int64_t len, const char *path,
                          int channels, int size)
{
    rp_status st = image_args(channels, size);
    if (st != RP_OK) {
        free(file);
        return st;
    }
    if (len > INT32_MAX) {
        free(file);
        return rp_error(RP_EFORMAT, "%s: image file too large", path);
    }
    /* PNG chunks are checked before stb_image sees them: it copies from a NULL
     * pointer on an empty IDAT chunk (undefined behaviour, harmless in
     * practice), and it grows its buffer to a chunk's claimed length (up to
     * 2 GB) before finding the file too short. */
    if (len >= 8 && memcmp(file, "\x89PNG\r\n\x1a\n", 8) == 0) {
        for (int64_t at = 8; at + 8 <= len;) {
            uint32_t clen = be32(file + at);
            const char *why = NULL;
            if ((int64_t)clen > len - at - 12)
                why = "a PNG chunk runs past the end of the file";
            else if (memcmp(file + at + 4, "IDAT", 4) == 0 && clen == 0)
                why = "an empty PNG IDAT chunk";
            if (why) {
                free(file);
                return rp_error(RP_EFORMAT, "%s: not a readable image (%s)", path, why);
            }
            at += 12 + (int64_t)clen;
        }
    }
    /* JPEG Huffman tables are checked too: stb_image writes past its table for
     * one with more than 256 codes (found by the fuzzer). */
    int64_t soi = 0; /* stb_image takes 0xFF... 0xD8 as the start of a JPEG */
    while (soi < len && file[soi] == 0xFF)
        soi++;
    if (soi >= 1 && soi < len && file[soi] == 0xD8) {
        const char *why = jpeg_tables_bad(file, len);
        if (why) {
            free(file);
            return rp_error(RP_EFORMAT, "%s: not a readable image (%s)", path, why);
        }
    }
    int w, h, n;
    /* stb_image's info reports a top-down BMP's height as negative (the decoder
     * then uses its magnitude): count pixels by magnitudes */
    if (stbi_info_from_memory(file, (int)len, &w, &h, &n) &&
        (w < 0 ? -(int64_t)w : w) * (h < 0 ? -(int64_t)h : h) >
            MAX_PIXELS_BASE + MAX_PIXELS_PER_BYTE * len) {
        /* no format packs more pixels per byte than deflate's best (about 1,000):
         * a header claiming more is lying, and decoding would allocate for it */
        free(file);
        return rp_error(RP_EFORMAT,
                        "%s: not a readable image (%lldx%lld pixels claimed by a "
                        "%lld-byte file)",
                        path, (long long)(w < 0 ? -(int64_t)w : w),
                        (long long)(h < 0 ? -(int64_t)h : h), (long long)len);
    }
    if (!stbi_info_from_memory(file, (int)len, &w, &h, &n) ||
        (w < 0 ? -(int64_t)w : w) * (h < 0 ? -(int64_t)h : h) > (1 << 28)) {
        free(file);
        return rp_error(RP_EFORMAT, "%s: not a readable image (%s)", path,
                        stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
    }
    uint8_t *px = stbi_load_from_memory(file, (int)len, &w, &h, &n, channels);
    free(file);
    if (!px)
        return rp_error(RP_EFORMAT, "%s: cannot decode the image (%s)", path,
                        stbi_failure_reason());
    if (w < 1 || h < 1) { /* a header may claim a 0-pixel image */
        stbi_image_free(px);
        return rp_error(RP_EFORMAT, "%s: the image has no pixels (%dx%d)", path, w, h);
    }
    struct rp_bytes b = {0};
    b.data = malloc((size_t)channels * size * size);
    if (!b.data) {
        stbi_image_free(px);
        return rp_error(RP_ENOMEM, "out of memory resizing %s", path);
    }
    /* bilinear resize, pixel centers aligned (as align_corners=False) */
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < size; y++) {
            double sy = ((double)y + 0.5) * h / size - 0.5;
            int y0 = sy < 0 ? 0 : (int)sy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
            double fy = sy < 0 ? 0 : sy - y0;
            for (int x = 0; x < size; x++) {
                double sx = ((double)x + 0.5) * w / size - 0.5;
                int x0 = sx < 0 ? 0 : (int)sx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                double fx = sx < 0 ? 0 : sx - x0;
                double v00 = px[((int64_t)y0 * w + x0) * channels + c];
                double v01 = px[((int64_t)y0 * w + x1) * channels + c];
                double v10 = px[((int64_t)y1 * w + x0) * channels + c];
                double v11 = px[((int64_t)y1 * w + x1) * channels + c];
                double v =
                    (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy;
                b.data[((int64_t)c * size + y) * size + x] = (uint8_t)(v + 0.5);
            }
        }
    stbi_image_free(px);
    b.ndim = 3;
    b.shape[0] = channels;
    b.shape[1] = size;
    b.shape[2] = size;
    b.numel = (int64_t)channels * size * size;
    *out = b;
    return RP_OK;
}

rp_status rp_gather_images(struct rp_tensor *dst, const uint8_t *src, int64_t count, int channels,
                           int64_t height, int64_t width, const int64_t *idx, int64_t n,
                           const float *mean, const float *std)
{
    int64_t plane = height * width, item = channels * plane;
    if (dst->numel < n * item)
        return rp_error(RP_ESHAPE, "gather: the batch holds %lld values, %lld needed",
                        (long long)dst->numel, (long long)(n * item));
    float scale[4], shift[4];
    if (channels < 1 || channels > 4)
        return rp_error(RP_EINVAL, "gather: 1 to 4 channels supported, got %d", channels);
    for (int c = 0; c < channels; c++) {
        scale[c] = 1.0f / (255.0f * std[c]);
        shift[c] = -mean[c] / std[c];
    }
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= count)
            return rp_error(RP_ERANGE, "gather: index %lld is out of range 1..%lld",
                            (long long)idx[i] + 1, (long long)count);
        const uint8_t *s = src + idx[i] * item;
        float *d = dst->data + i * item;
        for (int c = 0; c < channels; c++)
            for (int64_t p = 0; p < plane; p++)
                d[c * plane + p] = (float)s[c * plane + p] * scale[c] + shift[c];
    }
    return RP_OK;
}

rp_status rp_augment_crop_flip(struct rp_tensor *batch, int pad, int flip, struct rp_rng *g)
{
    if (batch->ndim != 4)
        return rp_error(RP_ESHAPE, "augment: batch must be N x C x H x W");
    if (pad < 0)
        return rp_error(RP_EINVAL, "augment: padding must be >= 0, got %d", pad);
    int64_t N = batch->shape[0], C = batch->shape[1], H = batch->shape[2], W = batch->shape[3];
    float *tmp = malloc(sizeof(float) * (size_t)(H * W > 0 ? H * W : 1));
    if (!tmp)
        return rp_error(RP_ENOMEM, "augment: out of memory");
    for (int64_t i = 0; i < N; i++) {
        int dy = pad ? (int)rp_rng_below(g, (uint64_t)(2 * pad + 1)) - pad : 0;
        int dx = pad ? (int)rp_rng_below(g, (uint64_t)(2 * pad + 1)) - pad : 0;
        int fl = flip ? (int)rp_rng_below(g, 2) : 0;
        if (dy == 0 && dx == 0 && !fl)
            continue;
        for (int64_t c = 0; c < C; c++) {
            float *p = batch->data + (i * C + c) * H * W;
            memcpy(tmp, p, sizeof(float) * (size_t)(H * W));
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    int64_t sy = y + dy, sx = x + dx;
                    if (fl)
                        sx = W - 1 - x + dx;
                    p[y * W + x] =
                        (sy >= 0 && sy < H && sx >= 0 && sx < W) ? tmp[sy * W + sx] : 0.0f;
                }
        }
    }
    free(tmp);
    return RP_OK;
}

rp_status rp_byte_stats(double mean[], double std[], const uint8_t *data, int64_t len, int channels,
                        int64_t plane)
{
    if (channels < 1 || channels > 4)
        return rp_error(RP_EINVAL, "byte_stats: 1 to 4 channels expected, got %d", channels);
    if (plane < 1)
        return rp_error(RP_EINVAL, "byte_stats: the plane size must be positive, got %lld",
                        (long long)plane);
    int64_t items = len / (channels * plane);
    if (items < 1)
        return rp_error(RP_EINVAL, "byte_stats: no images (%lld bytes for %d x %lld)",
                        (long long)len, channels, (long long)plane);
    double s[4] = {0}, ss[4] = {0};
    for (int64_t i = 0; i < items; i++)
        for (int k = 0; k < channels; k++) {
            const uint8_t *q = data + (i * channels + k) * plane;
            for (int64_t j = 0; j < plane; j++) {
                double v = q[j] / 255.0;
                s[k] += v;
                ss[k] += v * v;
            }
        }
    double n = (double)items * plane;
    for (int k = 0; k < channels; k++) {
        double m = s[k] / n, var = ss[k] / n - m * m;
        mean[k] = m;
        std[k] = sqrt(var > 1e-12 ? var : 1e-12);
    }
    return RP_OK;
}
