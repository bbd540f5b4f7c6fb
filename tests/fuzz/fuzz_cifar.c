/* libFuzzer target: the CIFAR reader on arbitrary bytes (first byte picks
 * 1 or 2 label bytes). */
#include <stdlib.h>
#include <string.h>

#include "realprune/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int label_bytes = 1 + (data[0] & 1);
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    struct rp_bytes im, lb;
    if (rp_cifar_parse(&im, &lb, buf, (int64_t)size - 1, "fuzz", label_bytes) == RP_OK) {
        if (im.numel != lb.numel * 3 * 32 * 32)
            abort();
        rp_bytes_free(&im);
        rp_bytes_free(&lb);
    }
    return 0;
}
