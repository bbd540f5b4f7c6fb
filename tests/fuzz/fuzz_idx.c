/* libFuzzer target: the IDX reader on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "realprune/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct rp_bytes b;
    if (rp_idx_parse(&b, buf, (int64_t)size, "fuzz") == RP_OK) {
        int64_t n = 1;
        for (int d = 0; d < b.ndim; d++)
            n *= b.shape[d];
        if (n != b.numel)
            abort(); /* the shape must describe exactly the bytes returned */
        rp_bytes_free(&b);
    }
    return 0;
}
