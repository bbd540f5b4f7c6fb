/* libFuzzer target: image decoding (stb_image) and resizing on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "realprune/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int channels = data[0] & 1 ? 3 : 1, side = 1 + (data[0] >> 1) % 16;
    uint8_t *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    struct rp_bytes b;
    if (rp_image_decode(&b, buf, (int64_t)size - 1, "fuzz", channels, side) == RP_OK) {
        if (b.numel != (int64_t)channels * side * side)
            abort();
        rp_bytes_free(&b);
    }
    return 0;
}
