/* test_rng.c - the generator matches an independent implementation, is
 * reproducible, and its distributions look right. */
#include <inttypes.h>
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

/* Compares against tests/fixtures/rng_reference.txt (gen_rng.py). */
static void test_reference(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/rng_reference.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char word[32];
    struct rp_rng g;
    uint64_t seed = 0;
    int blocks = 0;
    while (fscanf(f, "%31s", word) == 1) {
        if (strcmp(word, "seed") == 0) {
            CHECK(fscanf(f, "%" SCNu64, &seed) == 1);
            blocks++;
        } else if (strcmp(word, "u64") == 0) {
            rp_rng_seed(&g, seed);
            for (int i = 0; i < 8; i++) {
                uint64_t want = 0;
                CHECK(fscanf(f, "%" SCNu64, &want) == 1);
                CHECK(rp_rng_next(&g) == want);
            }
        } else if (strcmp(word, "below100") == 0) {
            rp_rng_seed(&g, seed);
            for (int i = 0; i < 8; i++) {
                uint64_t want = 0;
                CHECK(fscanf(f, "%" SCNu64, &want) == 1);
                CHECK(rp_rng_below(&g, 100) == want);
            }
        } else if (strcmp(word, "uniform") == 0) {
            rp_rng_seed(&g, seed);
            for (int i = 0; i < 4; i++) {
                double want = -1;
                CHECK(fscanf(f, "%lf", &want) == 1);
                CHECK(rp_rng_uniform(&g) == want);
            }
        }
    }
    fclose(f);
    CHECK(blocks == 3);
}

static void test_reproducible(void)
{
    struct rp_rng a, b;
    rp_rng_seed(&a, 7);
    rp_rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= rp_rng_normal(&a) == rp_rng_normal(&b);
    CHECK(same);
    rp_rng_seed(&b, 8);
    CHECK(rp_rng_next(&a) != rp_rng_next(&b));

    /* tensors filled from equal generators are bit-identical */
    struct rp_tensor *x = NULL, *y = NULL;
    CHECK_OK(rp_tensor_new(&x, 2, (int64_t[]){31, 17}));
    CHECK_OK(rp_tensor_new(&y, 2, (int64_t[]){31, 17}));
    rp_rng_seed(&a, 99);
    rp_rng_seed(&b, 99);
    rp_tensor_fill_normal(x, &a, 0.0f, 1.0f);
    rp_tensor_fill_normal(y, &b, 0.0f, 1.0f);
    CHECK(memcmp(x->data, y->data, sizeof(float) * 31 * 17) == 0);
    rp_tensor_free(x);
    rp_tensor_free(y);
}

static void test_distributions(void)
{
    struct rp_rng g;
    rp_rng_seed(&g, 12345);
    const int n = 200000;
    double s = 0, s2 = 0, mn = 1, mx = 0;
    for (int i = 0; i < n; i++) {
        double u = rp_rng_uniform(&g);
        s += u;
        mn = u < mn ? u : mn;
        mx = u > mx ? u : mx;
        float uf = rp_rng_uniformf(&g);
        if (!(uf >= 0.0f && uf < 1.0f))
            mn = -1;
    }
    CHECK(mn >= 0.0 && mx < 1.0);
    CHECK_NEAR(s / n, 0.5, 0.005);
    s = 0;
    for (int i = 0; i < n; i++) {
        double z = rp_rng_normal(&g);
        s += z;
        s2 += z * z;
    }
    CHECK_NEAR(s / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 1.0, 0.02);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++)
        counts[rp_rng_below(&g, 7)]++;
    int ok = 1;
    for (int k = 0; k < 7; k++)
        ok &= counts[k] > 9500 && counts[k] < 10500;
    CHECK(ok);
    CHECK(rp_rng_below(&g, 1) == 0);
}

int main(int argc, char **argv)
{
    test_reference(argc > 1 ? argv[1] : "tests/fixtures");
    test_reproducible();
    test_distributions();
    return check_summary("test_rng");
}
