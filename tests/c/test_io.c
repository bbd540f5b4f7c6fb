/* test_io.c - files and parsers without Lua: CRC-32's known answer, mkdir -p,
 * atomic writes, and the IDX and CIFAR parsers on truncated input of every
 * length (each parser takes ownership of a malloc'd copy). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "realprune/realprune.h"

static uint8_t *copy(const uint8_t *src, int64_t n)
{
    uint8_t *p = malloc((size_t)(n > 0 ? n : 1));
    if (n > 0)
        memcpy(p, src, (size_t)n);
    return p;
}

int main(void)
{
    /* CRC-32 (IEEE, as zlib) of the check string, whole and in two pieces */
    CHECK(rp_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(rp_crc32(rp_crc32(0, "12345", 5), "6789", 4) == 0xCBF43926u);

    /* float32 bytes little-endian on every machine: 1.0f = 00 00 80 3f */
    {
        const float f[2] = {1.0f, -2.5f};
        unsigned char b[8];
        float back[2];
        rp_f32_to_le(b, f, 2);
        CHECK(b[0] == 0x00 && b[1] == 0x00 && b[2] == 0x80 && b[3] == 0x3f);
        CHECK(b[4] == 0x00 && b[5] == 0x00 && b[6] == 0x20 && b[7] == 0xc0);
        rp_f32_from_le(back, b, 2);
        CHECK(back[0] == 1.0f && back[1] == -2.5f);
    }
    /* mkdir -p and atomic writes in a fresh folder */
    char base[] = "/tmp/rp-test-io-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char deep[256], file[256];
    snprintf(deep, sizeof deep, "%s/a/b/c", base);
    CHECK_OK(rp_mkdir_p(deep));
    CHECK_OK(rp_mkdir_p(deep)); /* existing: fine */
    struct stat sb;
    CHECK(stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(file, sizeof file, "%s/a/f.txt", base);
    CHECK_OK(rp_file_write_atomic(file, "first", 5));
    CHECK_OK(rp_file_write_atomic(file, "second", 6));
    FILE *f = fopen(file, "rb");
    char got[16] = {0};
    CHECK(f && fread(got, 1, sizeof got, f) == 6 && memcmp(got, "second", 6) == 0);
    if (f)
        fclose(f);
    /* folder listings: sorted, "." files left out, folders marked */
    char dot[300];
    snprintf(dot, sizeof dot, "%s/a/.hidden", base);
    CHECK_OK(rp_file_write_atomic(dot, "x", 1));
    struct rp_dir_entry *e;
    int64_t n;
    char a[300];
    snprintf(a, sizeof a, "%s/a", base);
    CHECK_OK(rp_dir_list(&e, &n, a));
    CHECK(n == 2 && strcmp(e[0].name, "b") == 0 && e[0].is_dir && strcmp(e[1].name, "f.txt") == 0 &&
          !e[1].is_dir);
    rp_dir_list_free(e, n);
    /* many names made in reverse order come back sorted */
    char many[300];
    for (int i = 40; i >= 10; i--) {
        snprintf(many, sizeof many, "%s/a/b/n%02d", base, i);
        CHECK_OK(rp_file_write_atomic(many, "", 0));
    }
    snprintf(many, sizeof many, "%s/a/b", base);
    CHECK_OK(rp_dir_list(&e, &n, many));
    int sorted = n == 32; /* n10..n40 and the folder c */
    for (int64_t i = 1; i < n; i++)
        sorted = sorted && strcmp(e[i - 1].name, e[i].name) < 0;
    CHECK(sorted);
    rp_dir_list_free(e, n);
    CHECK_FAILS(rp_dir_list(&e, &n, "/no/such/folder"), RP_EIO,
                "cannot open directory /no/such/folder");
    /* a PNG: its signature and size in the header; text as rectangles */
    char png[300];
    snprintf(png, sizeof png, "%s/a/p.png", base);
    unsigned char rgb[4 * 3 * 3];
    for (int i = 0; i < 36; i++)
        rgb[i] = (unsigned char)(i * 7);
    CHECK_OK(rp_png_write(png, 4, 3, rgb));
    unsigned char head[24] = {0};
    f = fopen(png, "rb");
    CHECK(f && fread(head, 1, 24, f) == 24);
    if (f)
        fclose(f);
    CHECK(memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0 && head[19] == 4 && head[23] == 3);
    CHECK_FAILS(rp_png_write(png, 0, 3, rgb), RP_EINVAL, "out of range");
    float rects[4 * 64];
    int64_t q = rp_text_rects(rects, 64, "I");
    CHECK(q > 0 && q <= 64 && rects[2] > rects[0] && rects[3] > rects[1]);
    CHECK(rp_text_rects(NULL, 0, "") == 0);
    CHECK(rp_text_rects(rects, 64, "II") > q);
    /* bytes outside the font (tab, UTF-8) are drawn as '?', never looked up */
    CHECK(rp_text_rects(rects, 64, "a\tb") == rp_text_rects(rects, 64, "a?b"));
    CHECK(rp_text_rects(rects, 64, "\xc2\xb5") == rp_text_rects(rects, 64, "??"));
    char through[300];
    snprintf(through, sizeof through, "%s/x/y", file);
    CHECK_FAILS(rp_mkdir_p(through), RP_EIO, "a file of that name is in the way");
    CHECK_FAILS(rp_mkdir_p(""), RP_EINVAL, "empty path");
    /* IDX: every prefix of a 3-dimensional header is refused, never read past */
    const uint8_t idx[17] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0};
    struct rp_bytes b;
    int refused = 0;
    for (int64_t len = 0; len < 16; len++) {
        rp_status st = rp_idx_parse(&b, copy(idx, len), len, "x.idx");
        const char *want = len < 4 ? "too short for an IDX file" : "truncated IDX header";
        refused += st == RP_EFORMAT && strstr(rp_last_error(), want) != NULL;
    }
    CHECK(refused == 16);
    CHECK_FAILS(rp_idx_parse(&b, copy(idx, 17), 17, "x.idx"), RP_EFORMAT,
                "the header promises 4 bytes of data (1x2x2), the file holds 1");
    uint8_t whole[20];
    memcpy(whole, idx, 16);
    memset(whole + 16, 7, 4);
    CHECK_OK(rp_idx_parse(&b, copy(whole, 20), 20, "x.idx"));
    CHECK(b.ndim == 3 && b.numel == 4 && b.data[3] == 7);
    rp_bytes_free(&b);
    /* CIFAR: lengths that are not whole records, around one and two records */
    int64_t rec = 1 + 3072;
    uint8_t *two = calloc((size_t)(2 * rec + 1), 1);
    struct rp_bytes im, lb;
    int bad = 0;
    for (int64_t len = 1; len <= 2 * rec + 1; len++) {
        if (len % rec == 0)
            continue;
        if (len > 8 && len < rec - 8 && len % 97 != 0)
            continue; /* every length near the edges, a sample in between */
        rp_status st = rp_cifar_parse(&im, &lb, copy(two, len), len, "c.bin", 1);
        bad += st != RP_EFORMAT || !strstr(rp_last_error(), "not a whole number");
    }
    CHECK(bad == 0);
    two[rec] = 9;
    CHECK_OK(rp_cifar_parse(&im, &lb, copy(two, 2 * rec), 2 * rec, "c.bin", 1));
    CHECK(im.numel == 2 * 3072 && lb.numel == 2 && lb.data[1] == 9);
    rp_bytes_free(&im);
    rp_bytes_free(&lb);
    free(two);
    /* per-channel statistics of bytes: two 2-pixel images of 2 channels */
    const uint8_t px[8] = {0, 255, 51, 51, 255, 0, 51, 51};
    double mean[2], sd[2];
    CHECK_OK(rp_byte_stats(mean, sd, px, 8, 2, 2));
    CHECK_NEAR(mean[0], 0.5, 1e-12);
    CHECK_NEAR(sd[0], 0.5, 1e-12);
    CHECK_NEAR(mean[1], 0.2, 1e-12);
    CHECK_NEAR(sd[1], 1e-6, 1e-9); /* a constant channel: the floor */
    CHECK_FAILS(rp_byte_stats(mean, sd, px, 3, 2, 2), RP_EINVAL, "no images");
    CHECK_FAILS(rp_byte_stats(mean, sd, px, 8, 5, 2), RP_EINVAL, "1 to 4 channels");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    return check_summary("test_io");
}
