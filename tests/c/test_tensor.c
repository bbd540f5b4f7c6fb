/* test_tensor.c - tensors: lifetime, views, broadcasting, reductions. */
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

static struct rp_tensor *make(int ndim, const int64_t *shape, float start)
{
    struct rp_tensor *t = NULL;
    if (rp_tensor_new(&t, ndim, shape) != RP_OK)
        return NULL;
    rp_tensor_arange(t, start, 1.0);
    return t;
}

static void test_new_and_shapes(void)
{
    struct rp_tensor *t = NULL, *u = (struct rp_tensor *)0x1;
    CHECK_OK(rp_tensor_new(&t, 3, (int64_t[]){2, 3, 4}));
    CHECK(t->numel == 24 && t->ndim == 3 && t->shape[2] == 4);
    CHECK(rp_tensor_count_nonzero(t) == 0);
    rp_tensor_free(t);

    CHECK_OK(rp_tensor_new(&t, 0, NULL));
    CHECK(t->numel == 1);
    rp_tensor_free(t);
    CHECK_OK(rp_tensor_new(&t, 2, (int64_t[]){0, 5}));
    CHECK(t->numel == 0);
    rp_tensor_free(t);

    CHECK_FAILS(rp_tensor_new(&u, 2, (int64_t[]){2, -1}), RP_EINVAL,
                "dimension 2 must be non-negative");
    CHECK(u == (struct rp_tensor *)0x1); /* untouched on failure */
    CHECK_FAILS(rp_tensor_new(&u, 6, (int64_t[]){1, 1, 1, 1, 1, 1}), RP_EINVAL,
                "0 to 5 dimensions");
    CHECK_FAILS(rp_tensor_new(&u, 3, (int64_t[]){1 << 20, 1 << 20, 1 << 20}), RP_ENOMEM,
                "too large");

    char buf[32];
    CHECK(strcmp(rp_shape_string(buf, sizeof buf, 3, (int64_t[]){2, 3, 4}), "2x3x4") == 0);
    CHECK(strcmp(rp_shape_string(buf, sizeof buf, 0, NULL), "scalar") == 0);
}

static void test_views(void)
{
    struct rp_tensor *a = make(2, (int64_t[]){3, 4}, 0), *v = NULL, *r = NULL, *w = NULL;
    CHECK_OK(rp_tensor_view(&v, a, 3, (int64_t[]){2, -1, 3}));
    CHECK(v && v->shape[1] == 2 && v->numel == 12);
    /* a view shares storage: writes show through both */
    v->data[5] = 100.0f;
    CHECK(a->data[5] == 100.0f);
    /* the storage outlives the first handle */
    rp_tensor_free(a);
    CHECK(v->data[5] == 100.0f);
    CHECK_OK(rp_tensor_select(&r, v, 1));
    CHECK(r->ndim == 2 && r->numel == 6 && r->data[0] == 6.0f);
    CHECK_FAILS(rp_tensor_select(&w, v, 2), RP_ERANGE, "index 3 is out of range 1..2");
    CHECK_FAILS(rp_tensor_view(&w, v, 2, (int64_t[]){5, 5}), RP_ESHAPE,
                "cannot reshape 2x2x3 (12 elements) to 5x5 (25 elements)");
    CHECK_FAILS(rp_tensor_view(&w, v, 2, (int64_t[]){5, -1}), RP_ESHAPE, "cannot infer");
    CHECK_FAILS(rp_tensor_view(&w, v, 2, (int64_t[]){-2, 6}), RP_EINVAL, "non-negative");
    rp_tensor_free(v);
    CHECK(r->data[0] == 6.0f);
    rp_tensor_free(r);
}

/* Reference broadcasting by explicit index arithmetic on 3-D shapes. */
static void test_broadcast(void)
{
    const int64_t sa[3] = {2, 1, 4}, sb[2] = {3, 1};
    struct rp_tensor *a = make(3, sa, 1), *b = make(2, sb, 10), *c = NULL;
    CHECK_OK(rp_tensor_binary(&c, RP_OP_SUB, a, b));
    CHECK(c && c->ndim == 3 && c->shape[0] == 2 && c->shape[1] == 3 && c->shape[2] == 4);
    int bad = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                float want = a->data[i * 4 + k] - b->data[j];
                if (c->data[(i * 3 + j) * 4 + k] != want)
                    bad++;
            }
    CHECK(bad == 0);
    rp_tensor_free(c);

    /* same shape, every op */
    struct rp_tensor *x = make(1, (int64_t[]){5}, 1), *y = make(1, (int64_t[]){5}, 2);
    const enum rp_binop ops[] = {RP_OP_ADD, RP_OP_SUB, RP_OP_MUL, RP_OP_DIV};
    for (int o = 0; o < 4; o++) {
        CHECK_OK(rp_tensor_binary(&c, ops[o], x, y));
        float e = ops[o] == RP_OP_ADD   ? 3.f
                  : ops[o] == RP_OP_SUB ? -1.f
                  : ops[o] == RP_OP_MUL ? 2.f
                                        : 0.5f;
        CHECK(c->data[0] == e);
        rp_tensor_free(c);
    }
    CHECK_FAILS(rp_tensor_binary(&c, RP_OP_ADD, a, x), RP_ESHAPE,
                "shapes 2x1x4 and 5 cannot be broadcast together");

    /* in place: b must broadcast to a's shape, not grow it */
    CHECK_FAILS(rp_tensor_binary_(b, RP_OP_ADD, a), RP_ESHAPE, "cannot be broadcast to 3x1");
    struct rp_tensor *row = make(1, (int64_t[]){4}, 0);
    CHECK_OK(rp_tensor_binary_(a, RP_OP_MUL, row));
    CHECK(a->data[5] == 6.0f * 1.0f && a->data[7] == 8.0f * 3.0f); /* a = 1..8 */

    /* in place with an overlapping view: a[0] += a[0] row by row */
    struct rp_tensor *m = make(2, (int64_t[]){2, 3}, 1), *r0 = NULL;
    CHECK_OK(rp_tensor_select(&r0, m, 0));
    CHECK_OK(rp_tensor_binary_(m, RP_OP_ADD, r0));
    CHECK(m->data[0] == 2.0f && m->data[2] == 6.0f && m->data[3] == 5.0f && m->data[5] == 9.0f);

    /* broadcast copy */
    CHECK_FAILS(rp_tensor_copy(m, row), RP_ESHAPE, "shapes 2x3 and 4 cannot be broadcast");
    struct rp_tensor *three = make(1, (int64_t[]){3}, 7);
    CHECK_OK(rp_tensor_copy(m, three));
    CHECK(m->data[0] == 7.0f && m->data[3] == 7.0f && m->data[5] == 9.0f);

    rp_tensor_scalar_(three, RP_OP_SUB, 10.0f, 1);
    CHECK(three->data[0] == 3.0f && three->data[2] == 1.0f);
    rp_tensor_scalar_(three, RP_OP_DIV, 2.0f, 0);
    CHECK(three->data[0] == 1.5f);

    rp_tensor_free(r0);
    rp_tensor_free(m);
    rp_tensor_free(three);
    rp_tensor_free(row);
    rp_tensor_free(x);
    rp_tensor_free(y);
    rp_tensor_free(a);
    rp_tensor_free(b);
}

static void test_reductions(void)
{
    struct rp_tensor *t = make(3, (int64_t[]){2, 3, 4}, -5), *s = NULL;
    double v;
    CHECK_NEAR(rp_tensor_sum(t), 156.0, 0); /* sum of -5..18 */
    CHECK_OK(rp_tensor_min(&v, t));
    CHECK(v == -5.0);
    CHECK_OK(rp_tensor_max(&v, t));
    CHECK(v == 18.0);
    CHECK_OK(rp_tensor_norm(&v, t, 1.0));
    CHECK_NEAR(v, 15.0 + 171.0, 0);
    CHECK_OK(rp_tensor_norm(&v, t, INFINITY));
    CHECK(v == 18.0);
    double sq = 0;
    for (int i = -5; i <= 18; i++)
        sq += i * i;
    CHECK_OK(rp_tensor_norm(&v, t, 2.0));
    CHECK_NEAR(v, sqrt(sq), 1e-9);
    CHECK_OK(rp_tensor_norm(&v, t, 3.0));
    double cube = 0;
    for (int i = -5; i <= 18; i++)
        cube += fabs((double)i * i * i);
    CHECK_NEAR(v, cbrt(cube), 1e-9);
    CHECK_FAILS(rp_tensor_norm(&v, t, 0.0), RP_EINVAL, "positive");
    CHECK(rp_tensor_count_nonzero(t) == 23);

    int64_t i;
    CHECK_OK(rp_tensor_argmax(&i, t));
    CHECK(i == 23);

    CHECK_OK(rp_tensor_sum_dim(&s, t, 1));
    CHECK(s->ndim == 2 && s->shape[0] == 2 && s->shape[1] == 4);
    /* s[0][0] = t[0][0][0] + t[0][1][0] + t[0][2][0] = -5 + -1 + 3 */
    CHECK(s->data[0] == -3.0f);
    rp_tensor_free(s);
    CHECK_OK(rp_tensor_argmax_dim(&s, t, 2));
    CHECK(s->ndim == 2 && s->data[0] == 3.0f && s->numel == 6);
    rp_tensor_free(s);
    CHECK_FAILS(rp_tensor_sum_dim(&s, t, 3), RP_ERANGE, "dimension 4 is out of range 1..3");

    struct rp_tensor *e = NULL;
    CHECK_OK(rp_tensor_new(&e, 1, (int64_t[]){0}));
    CHECK_FAILS(rp_tensor_min(&v, e), RP_EINVAL, "empty");
    CHECK_FAILS(rp_tensor_argmax(&i, e), RP_EINVAL, "empty");
    CHECK(rp_tensor_sum(e) == 0.0);
    rp_tensor_free(e);
    rp_tensor_free(t);
}

static void test_matmul_shapes(void)
{
    struct rp_tensor *a = make(2, (int64_t[]){2, 3}, 1), *b = make(1, (int64_t[]){3}, 1);
    struct rp_tensor *c = NULL;
    CHECK_OK(rp_tensor_matmul(&c, a, b));
    CHECK(c->ndim == 1 && c->shape[0] == 2 && c->data[0] == 14.0f && c->data[1] == 32.0f);
    rp_tensor_free(c);
    CHECK_FAILS(rp_tensor_matmul(&c, b, b), RP_ESHAPE, "needs a 2-D");
    CHECK_FAILS(rp_tensor_matmul(&c, a, a), RP_ESHAPE, "inner sizes 3 and 2 differ");
    rp_tensor_free(a);
    rp_tensor_free(b);
}

int main(void)
{
    test_new_and_shapes();
    test_views();
    test_broadcast();
    test_reductions();
    test_matmul_shapes();
    return check_summary("test_tensor");
}
