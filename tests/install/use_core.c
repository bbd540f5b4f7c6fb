/* A plain C program against the installed core (tests/install_check.sh): the
 * umbrella header, the version, a tensor, a GEMM and a crossbar mapping. */
#include <realprune/realprune.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (strcmp(RP_VERSION_STRING, "") == 0)
        return 1;
    int64_t shape[2] = {2, 3};
    struct rp_tensor *t;
    if (rp_tensor_new(&t, 2, shape) != RP_OK) {
        fprintf(stderr, "%s\n", rp_last_error());
        return 1;
    }
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (float)(i + 1);
    float c[4];
    /* C (2x2) = T (2x3) . T^T (3x2) */
    rp_gemm(0, 1, 2, 2, 3, 1.0f, t->data, 3, t->data, 3, 0.0f, c, 2);
    struct rp_xbar_config cfg = rp_xbar_config_default();
    struct rp_xbar_map m, mt;
    if (rp_xbar_map_matrix(&m, NULL, 4608, 512, &cfg) != RP_OK ||
        rp_xbar_map_transposed(&mt, NULL, 4608, 512, &cfg) != RP_OK) {
        fprintf(stderr, "%s\n", rp_last_error());
        return 1;
    }
    printf("%s %g %g %g %g %lld %lld\n", RP_VERSION_STRING, c[0], c[1], c[2], c[3],
           (long long)m.crossbars, (long long)mt.crossbars);
    rp_tensor_free(t);
    return 0;
}
