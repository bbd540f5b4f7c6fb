/* bench_sparse_conv.c - one convolution's forward + backward step, dense
 * (auto: Winograd here; im2col) against the sparse kernels at several column
 * and element sparsities, as ratios measured within one run: the direct
 * register tiles and the sparse Winograd products, each pinned, with what auto
 * picks.
 *   build/bench/bench_sparse_conv [N C H K reps]   (default 128 256 8 256 3) */
#include <stdio.h>
#include <stdlib.h>

#include "realprune/realprune.h"

static uint64_t lcg = 7;
static float rnd(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg >> 40) & 0xffff) / 32768.0f - 1.0f;
}

static struct rp_tensor *tensor(int nd, const int64_t *shape)
{
    struct rp_tensor *t;
    if (rp_tensor_new(&t, nd, shape) != RP_OK) {
        fprintf(stderr, "%s\n", rp_last_error());
        exit(1);
    }
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = rnd();
    return t;
}

int main(int argc, char **argv)
{
    rp_blas_choose_core(argv); /* the OpenBLAS kernel realprune runs */
    int64_t N = argc > 1 ? atoll(argv[1]) : 128, C = argc > 2 ? atoll(argv[2]) : 256;
    int64_t H = argc > 3 ? atoll(argv[3]) : 8, K = argc > 4 ? atoll(argv[4]) : 256;
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    int64_t xs[4] = {N, C, H, H}, wsh[4] = {K, C, 3, 3}, ys[4] = {N, K, H, H}, bs[1] = {K};
    struct rp_tensor *x = tensor(4, xs), *w = tensor(4, wsh), *y = tensor(4, ys);
    struct rp_tensor *dy = tensor(4, ys), *dx = tensor(4, xs), *dw = tensor(4, wsh);
    struct rp_tensor *b = tensor(1, bs), *db = tensor(1, bs);
    int64_t R = C * 9;
    float *mask = malloc(sizeof(float) * (size_t)(K * R));
    printf("conv %lldx%lldx%lldx%lld -> %lld, 3x3 pad 1, %d threads\n", (long long)N, (long long)C,
           (long long)H, (long long)H, (long long)K, rp_blas_get_threads());
    double base = 0;
    const char *names[] = {"dense auto", "dense im2col"};
    for (int algo = 0; algo < 2; algo++) {
        struct rp_conv2d_params p = {3, 3, 1, 1, 1, 1, algo == 0 ? RP_CONV_AUTO : RP_CONV_IM2COL};
        int64_t wn[1] = {rp_conv2d_workspace_size(x, w, &p, rp_blas_get_threads())};
        struct rp_tensor *ws = tensor(1, wn);
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = rp_clock();
            rp_conv2d_forward(y, x, w, b, ws, &p);
            rp_conv2d_backward(dx, dw, db, dy, x, w, ws, &p, 1.0f);
            double t = rp_clock() - t0;
            best = t < best ? t : best;
        }
        if (algo == 0)
            base = best;
        printf("%-22s %8.1f ms  %.2fx\n", names[algo], 1e3 * best, base / best);
        rp_tensor_free(ws);
    }
    /* column masks (128-row segments), then element masks with one block per
     * output allowed */
    const double deads[] = {0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.7, 0.8, 0.9, 0.95, 0.99};
    const int ndeads = (int)(sizeof deads / sizeof deads[0]), first_element = 8;
    for (int d = 0; d < ndeads; d++) {
        int element = d >= first_element;
        int64_t seg = element ? 1 : 128;
        for (int64_t k = 0; k < K; k++)
            for (int64_t r0 = 0; r0 < R; r0 += seg) {
                float v = (rnd() + 1.0f) / 2.0f < deads[d] ? 0.0f : 1.0f;
                for (int64_t r = r0; r < r0 + seg && r < R; r++)
                    mask[k * R + r] = v;
            }
        struct rp_sparse_plan *sp;
        struct rp_conv2d_params p = {3, 3, 1, 1, 1, 1, RP_CONV_AUTO};
        if (rp_sparse_plan_new(&sp, mask, R, K, element ? RP_SPARSE_ANY : RP_SPARSE_CHOOSE) !=
            RP_OK)
            return 1;
        struct rp_sparse_info info;
        rp_sparse_plan_info(sp, &info);
        int pick = rp_conv2d_choose(x->shape, K, &p, sp);
        int runs = rp_conv2d_sparse_kernel(x->shape, K, &p, sp);
        /* each sparse kernel pinned in turn */
        for (int kern = RP_SPARSE_KERNEL_DIRECT; kern <= RP_SPARSE_KERNEL_WINOGRAD; kern++) {
            rp_sparse_plan_set_kernel(sp, kern);
            int64_t wn[1] = {rp_conv2d_sparse_workspace_size(x, &p, sp, rp_blas_get_threads())};
            struct rp_tensor *ws = tensor(1, wn);
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = rp_clock();
                rp_conv2d_sparse_forward(y, x, w, b, ws, &p, sp);
                rp_conv2d_sparse_backward(dx, dw, db, dy, x, w, ws, &p, sp, 1.0f);
                double t = rp_clock() - t0;
                best = t < best ? t : best;
            }
            printf("sparse %-7s %3.0f%% %-8s %8.1f ms  %.2fx  (h %lld%s, %.2f of dense MACs; "
                   "pairs %.3f; auto: %s)\n",
                   element ? "element" : "column", 100 * deads[d],
                   rp_name_of(rp_sparse_kernel_names, kern), 1e3 * best, base / best,
                   (long long)info.block_rows, info.by_output ? " by output" : "",
                   info.macs / info.macs_dense, info.pair_macs / (double)(C * K),
                   pick == RP_CONV_SPARSE ? rp_name_of(rp_sparse_kernel_names, runs) : "dense");
            rp_tensor_free(ws);
        }
        rp_sparse_plan_free(sp);
    }
    free(mask);
    return 0;
}
