/*
 * l_nn.c - layer kernels and optimizer steps for the Lua modules in
 * lua/realprune/nn.lua and optim.lua.  Arguments follow the C kernels
 * (outputs, inputs, weights, buffers, scalars); nil stands for an absent
 * optional tensor.  Labels are 1-based (a Lua array or a tensor) and are
 * converted to 0-based here.
 */
#include "lrp.h"
#include "realprune/blas.h"
#include "realprune/nn.h"
#include "realprune/optim.h"

static struct rp_tensor *opt_tensor(lua_State *L, int arg)
{
    return lua_isnoneornil(L, arg) ? NULL : rpl_check_tensor(L, arg);
}

static int fail(lua_State *L)
{
    return luaL_error(L, "%s", rp_last_error());
}

static int check_int(lua_State *L, int arg, int lo)
{
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < lo || v > (1 << 20))
        luaL_argerror(L, arg, lua_pushfstring(L, "integer >= %d expected, got %I", lo, v));
    return (int)v;
}

struct rp_conv2d_params rpl_conv_params(lua_State *L, int arg)
{
    struct rp_conv2d_params p = rp_conv2d_params_default();
    p.kh = check_int(L, arg, 1);
    p.kw = check_int(L, arg + 1, 1);
    p.sh = check_int(L, arg + 2, 1);
    p.sw = check_int(L, arg + 3, 1);
    p.ph = check_int(L, arg + 4, 0);
    p.pw = check_int(L, arg + 5, 0);
    return p;
}

/* The optional algorithm name at arg: "auto" (default), "im2col", "winograd"
 * or "winograd4". */
static int conv_algorithm(lua_State *L, int arg)
{
    return luaL_checkoption(L, arg, "auto", rp_conv2d_algorithm_names);
}

static void push_dims(lua_State *L, const int64_t *s, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)s[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* conv2d_shapes(input, weight, kh, kw, sh, sw, ph, pw[, algorithm]) -> output shape,
 * workspace size (floats, for the current thread count) */
static int l_conv2d_shapes(lua_State *L)
{
    struct rp_tensor *x = rpl_check_tensor(L, 1), *w = rpl_check_tensor(L, 2);
    struct rp_conv2d_params p = rpl_conv_params(L, 3);
    p.algorithm = conv_algorithm(L, 9);
    int64_t os[4];
    if (rp_conv2d_output_shape(os, x, w, &p) != RP_OK)
        return fail(L);
    push_dims(L, os, 4);
    lua_pushinteger(L, (lua_Integer)rp_conv2d_workspace_size(x, w, &p, rp_blas_get_threads()));
    return 2;
}

/* conv2d_forward(output, input, weight, bias|nil, columns, kh, kw, sh, sw, ph, pw[,
 *                algorithm]) */
static int l_conv2d_forward(lua_State *L)
{
    struct rp_tensor *y = rpl_check_tensor(L, 1), *x = rpl_check_tensor(L, 2);
    struct rp_tensor *w = rpl_check_tensor(L, 3), *b = opt_tensor(L, 4);
    struct rp_tensor *cols = rpl_check_tensor(L, 5);
    struct rp_conv2d_params p = rpl_conv_params(L, 6);
    p.algorithm = conv_algorithm(L, 12);
    if (rp_conv2d_forward(y, x, w, b, cols, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* conv2d_backward_input(grad_input, grad_output, weight, columns, kh, kw, sh, sw, ph, pw[,
 *                       algorithm]) */
static int l_conv2d_backward_input(lua_State *L)
{
    struct rp_tensor *dx = rpl_check_tensor(L, 1), *dy = rpl_check_tensor(L, 2);
    struct rp_tensor *w = rpl_check_tensor(L, 3), *cols = rpl_check_tensor(L, 4);
    struct rp_conv2d_params p = rpl_conv_params(L, 5);
    p.algorithm = conv_algorithm(L, 11);
    if (rp_conv2d_backward_input(dx, dy, w, cols, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* conv2d_backward_params(grad_weight, grad_bias|nil, grad_output, input, columns,
 *                        kh, kw, sh, sw, ph, pw[, scale[, algorithm]]) */
static int l_conv2d_backward_params(lua_State *L)
{
    struct rp_tensor *dw = rpl_check_tensor(L, 1), *db = opt_tensor(L, 2);
    struct rp_tensor *dy = rpl_check_tensor(L, 3), *x = rpl_check_tensor(L, 4);
    struct rp_tensor *cols = rpl_check_tensor(L, 5);
    struct rp_conv2d_params p = rpl_conv_params(L, 6);
    float scale = (float)luaL_optnumber(L, 12, 1.0);
    p.algorithm = conv_algorithm(L, 13);
    if (rp_conv2d_backward_params(dw, db, dy, x, cols, &p, scale) != RP_OK)
        return fail(L);
    return 0;
}

/* conv2d_backward(grad_input|nil, grad_weight, grad_bias|nil, grad_output, input, weight,
 *                 columns, kh, kw, sh, sw, ph, pw[, scale[, algorithm]]) */
static int l_conv2d_backward(lua_State *L)
{
    struct rp_tensor *dx = opt_tensor(L, 1), *dw = rpl_check_tensor(L, 2);
    struct rp_tensor *db = opt_tensor(L, 3), *dy = rpl_check_tensor(L, 4);
    struct rp_tensor *x = rpl_check_tensor(L, 5), *w = rpl_check_tensor(L, 6);
    struct rp_tensor *cols = rpl_check_tensor(L, 7);
    struct rp_conv2d_params p = rpl_conv_params(L, 8);
    float scale = (float)luaL_optnumber(L, 14, 1.0);
    p.algorithm = conv_algorithm(L, 15);
    if (rp_conv2d_backward(dx, dw, db, dy, x, w, cols, &p, scale) != RP_OK)
        return fail(L);
    return 0;
}

/* linear_forward(output, input, weight, bias|nil) */
static int l_linear_forward(lua_State *L)
{
    if (rp_linear_forward(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2), rpl_check_tensor(L, 3),
                          opt_tensor(L, 4)) != RP_OK)
        return fail(L);
    return 0;
}

/* linear_backward_input(grad_input, grad_output, weight) */
static int l_linear_backward_input(lua_State *L)
{
    if (rp_linear_backward_input(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2),
                                 rpl_check_tensor(L, 3)) != RP_OK)
        return fail(L);
    return 0;
}

/* linear_backward_params(grad_weight, grad_bias|nil, grad_output, input[, scale]) */
static int l_linear_backward_params(lua_State *L)
{
    if (rp_linear_backward_params(rpl_check_tensor(L, 1), opt_tensor(L, 2), rpl_check_tensor(L, 3),
                                  rpl_check_tensor(L, 4),
                                  (float)luaL_optnumber(L, 5, 1.0)) != RP_OK)
        return fail(L);
    return 0;
}

/* relu_forward(output, input); relu_backward(grad_input, grad_output, output) */
static int l_relu_forward(lua_State *L)
{
    if (rp_relu_forward(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2)) != RP_OK)
        return fail(L);
    return 0;
}

static int l_relu_backward(lua_State *L)
{
    if (rp_relu_backward(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2), rpl_check_tensor(L, 3)) !=
        RP_OK)
        return fail(L);
    return 0;
}

static struct rp_pool2d_params pool_params(lua_State *L, int arg)
{
    struct rp_conv2d_params c = rpl_conv_params(L, arg); /* the same six window integers */
    struct rp_pool2d_params p = {c.kh, c.kw, c.sh, c.sw, c.ph, c.pw};
    return p;
}

/* pool2d_shape(input, kh, kw, sh, sw, ph, pw) -> output shape */
static int l_pool2d_shape(lua_State *L)
{
    struct rp_tensor *x = rpl_check_tensor(L, 1);
    struct rp_pool2d_params p = pool_params(L, 2);
    int64_t os[4];
    if (rp_pool2d_output_shape(os, x, &p) != RP_OK)
        return fail(L);
    push_dims(L, os, 4);
    return 1;
}

/* maxpool2d_forward(output, indices, input, kh, kw, sh, sw, ph, pw) */
static int l_maxpool2d_forward(lua_State *L)
{
    struct rp_tensor *y = rpl_check_tensor(L, 1), *ix = rpl_check_tensor(L, 2);
    struct rp_tensor *x = rpl_check_tensor(L, 3);
    struct rp_pool2d_params p = pool_params(L, 4);
    if (rp_maxpool2d_forward(y, ix, x, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* maxpool2d_backward(grad_input, grad_output, indices) */
static int l_maxpool2d_backward(lua_State *L)
{
    if (rp_maxpool2d_backward(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2),
                              rpl_check_tensor(L, 3)) != RP_OK)
        return fail(L);
    return 0;
}

/* avgpool2d_forward(output, input, kh, kw, sh, sw, ph, pw) */
static int l_avgpool2d_forward(lua_State *L)
{
    struct rp_tensor *y = rpl_check_tensor(L, 1), *x = rpl_check_tensor(L, 2);
    struct rp_pool2d_params p = pool_params(L, 3);
    if (rp_avgpool2d_forward(y, x, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* avgpool2d_backward(grad_input, grad_output, kh, kw, sh, sw, ph, pw) */
static int l_avgpool2d_backward(lua_State *L)
{
    struct rp_tensor *dx = rpl_check_tensor(L, 1), *dy = rpl_check_tensor(L, 2);
    struct rp_pool2d_params p = pool_params(L, 3);
    if (rp_avgpool2d_backward(dx, dy, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* batchnorm2d_forward_train(output, input, gamma, beta, running_mean, running_var,
 *                           save_mean, save_invstd, momentum, eps[, relu]) */
static int l_batchnorm2d_forward_train(lua_State *L)
{
    struct rp_tensor *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = rpl_check_tensor(L, i + 1);
    float momentum = (float)luaL_checknumber(L, 9), eps = (float)luaL_checknumber(L, 10);
    rp_status st = lua_toboolean(L, 11)
                       ? rp_batchnorm2d_relu_forward_train(t[0], t[1], t[2], t[3], t[4], t[5], t[6],
                                                           t[7], momentum, eps)
                       : rp_batchnorm2d_forward_train(t[0], t[1], t[2], t[3], t[4], t[5], t[6],
                                                      t[7], momentum, eps);
    if (st != RP_OK)
        return fail(L);
    return 0;
}

/* batchnorm2d_forward_eval(output, input, gamma, beta, running_mean, running_var, eps[, relu]) */
static int l_batchnorm2d_forward_eval(lua_State *L)
{
    struct rp_tensor *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = rpl_check_tensor(L, i + 1);
    float eps = (float)luaL_checknumber(L, 7);
    rp_status st = lua_toboolean(L, 8)
                       ? rp_batchnorm2d_relu_forward_eval(t[0], t[1], t[2], t[3], t[4], t[5], eps)
                       : rp_batchnorm2d_forward_eval(t[0], t[1], t[2], t[3], t[4], t[5], eps);
    if (st != RP_OK)
        return fail(L);
    return 0;
}

/* batchnorm2d_backward(grad_input, grad_gamma, grad_beta, grad_output, input, gamma,
 *                      save_mean, save_invstd[, beta]): with beta, the backward pass of
 * the normalization followed by a ReLU (batchnorm2d_forward_train's relu) */
static int l_batchnorm2d_backward(lua_State *L)
{
    struct rp_tensor *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = rpl_check_tensor(L, i + 1);
    rp_status st = lua_isnoneornil(L, 9)
                       ? rp_batchnorm2d_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])
                       : rp_batchnorm2d_relu_backward(t[0], t[1], t[2], t[3], t[4], t[5],
                                                      rpl_check_tensor(L, 9), t[6], t[7]);
    if (st != RP_OK)
        return fail(L);
    return 0;
}

/* dropout_forward(output, noise, input, p[, gen]) */
static int l_dropout_forward(lua_State *L)
{
    struct rp_tensor *y = rpl_check_tensor(L, 1), *noise = rpl_check_tensor(L, 2);
    struct rp_tensor *x = rpl_check_tensor(L, 3);
    float p = (float)luaL_checknumber(L, 4);
    struct rp_rng *g = rpl_opt_generator(L, 5);
    if (rp_dropout_forward(y, noise, x, p, g) != RP_OK)
        return fail(L);
    return 0;
}

/* dropout_backward(grad_input, grad_output, noise) */
static int l_dropout_backward(lua_State *L)
{
    if (rp_dropout_backward(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2),
                            rpl_check_tensor(L, 3)) != RP_OK)
        return fail(L);
    return 0;
}

/* Reads n labels (1-based, from a Lua array or a tensor) at `arg` into a
 * scratch userdata pushed on the stack; returns its 0-based values. */
static int64_t *check_labels(lua_State *L, int arg, int64_t n)
{
    int64_t *out = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n > 0 ? n : 1), 0);
    struct rp_tensor *t = rpl_test_tensor(L, arg);
    if (t) {
        if (t->numel != n)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "%I labels expected, got a tensor of %I",
                                          (lua_Integer)n, (lua_Integer)t->numel));
        for (int64_t i = 0; i < n; i++) {
            float v = t->data[i];
            if (v != (float)(int64_t)v)
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "label %I is not an integer (%f)",
                                              (lua_Integer)i + 1, (double)v));
            out[i] = (int64_t)v - 1;
        }
        return out;
    }
    if (lua_type(L, arg) != LUA_TTABLE)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "labels (table of classes or tensor) expected, "
                                      "got %s",
                                      luaL_typename(L, arg)));
    if ((int64_t)lua_rawlen(L, arg) != n)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "%I labels expected, got %I", (lua_Integer)n,
                                      (lua_Integer)lua_rawlen(L, arg)));
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, arg, (lua_Integer)i + 1);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "label %I must be an integer class, got %s",
                                          (lua_Integer)i + 1, luaL_typename(L, -1)));
        out[i] = (int64_t)v - 1;
        lua_pop(L, 1);
    }
    return out;
}

static int64_t batch_rows(lua_State *L, struct rp_tensor *logits)
{
    if (logits->ndim != 2)
        luaL_error(L, "cross_entropy: logits must be 2-D (N, classes), got %d dimensions",
                   logits->ndim);
    return logits->shape[0];
}

/* cross_entropy_forward(probs, logits, labels) -> mean loss */
static int l_cross_entropy_forward(lua_State *L)
{
    struct rp_tensor *probs = rpl_check_tensor(L, 1), *z = rpl_check_tensor(L, 2);
    int64_t *labels = check_labels(L, 3, batch_rows(L, z));
    double loss;
    if (rp_cross_entropy_forward(&loss, probs, z, labels) != RP_OK)
        return fail(L);
    lua_pushnumber(L, loss);
    return 1;
}

/* cross_entropy_backward(grad_logits, probs, labels) */
static int l_cross_entropy_backward(lua_State *L)
{
    struct rp_tensor *dz = rpl_check_tensor(L, 1), *probs = rpl_check_tensor(L, 2);
    int64_t *labels = check_labels(L, 3, batch_rows(L, probs));
    if (rp_cross_entropy_backward(dz, probs, labels) != RP_OK)
        return fail(L);
    return 0;
}

/* count_correct(logits, labels) -> number of rows whose argmax is the label */
static int l_count_correct(lua_State *L)
{
    struct rp_tensor *z = rpl_check_tensor(L, 1);
    int64_t *labels = check_labels(L, 2, batch_rows(L, z));
    lua_pushinteger(L, (lua_Integer)rp_count_correct(z, labels));
    return 1;
}

/* apply_mask(t, mask): t = t * mask */
static int l_apply_mask(lua_State *L)
{
    if (rp_apply_mask(rpl_check_tensor(L, 1), rpl_check_tensor(L, 2)) != RP_OK)
        return fail(L);
    return 0;
}

/* sgd_step(w, g, buf|nil, mask|nil, lr, momentum, weight_decay, nesterov) */
static int l_sgd_step(lua_State *L)
{
    struct rp_sgd_params p = rp_sgd_params_default();
    struct rp_tensor *w = rpl_check_tensor(L, 1), *g = rpl_check_tensor(L, 2);
    struct rp_tensor *buf = opt_tensor(L, 3), *mask = opt_tensor(L, 4);
    p.lr = (float)luaL_checknumber(L, 5);
    p.momentum = (float)luaL_checknumber(L, 6);
    p.weight_decay = (float)luaL_checknumber(L, 7);
    p.nesterov = lua_toboolean(L, 8);
    if (rp_sgd_step(w, g, buf, mask, &p) != RP_OK)
        return fail(L);
    return 0;
}

/* adam_step(w, g, m, v, mask|nil, lr, beta1, beta2, eps, weight_decay, step) */
static int l_adam_step(lua_State *L)
{
    struct rp_adam_params p = rp_adam_params_default();
    struct rp_tensor *w = rpl_check_tensor(L, 1), *g = rpl_check_tensor(L, 2);
    struct rp_tensor *m = rpl_check_tensor(L, 3), *v = rpl_check_tensor(L, 4);
    struct rp_tensor *mask = opt_tensor(L, 5);
    p.lr = (float)luaL_checknumber(L, 6);
    p.beta1 = (float)luaL_checknumber(L, 7);
    p.beta2 = (float)luaL_checknumber(L, 8);
    p.eps = (float)luaL_checknumber(L, 9);
    p.weight_decay = (float)luaL_checknumber(L, 10);
    p.step = (int64_t)luaL_checkinteger(L, 11);
    if (rp_adam_step(w, g, m, v, mask, &p) != RP_OK)
        return fail(L);
    return 0;
}

void rpl_open_nn(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"conv2d_shapes", l_conv2d_shapes},
                                     {"conv2d_forward", l_conv2d_forward},
                                     {"conv2d_backward_input", l_conv2d_backward_input},
                                     {"conv2d_backward_params", l_conv2d_backward_params},
                                     {"conv2d_backward", l_conv2d_backward},
                                     {"linear_forward", l_linear_forward},
                                     {"linear_backward_input", l_linear_backward_input},
                                     {"linear_backward_params", l_linear_backward_params},
                                     {"relu_forward", l_relu_forward},
                                     {"relu_backward", l_relu_backward},
                                     {"pool2d_shape", l_pool2d_shape},
                                     {"maxpool2d_forward", l_maxpool2d_forward},
                                     {"maxpool2d_backward", l_maxpool2d_backward},
                                     {"avgpool2d_forward", l_avgpool2d_forward},
                                     {"avgpool2d_backward", l_avgpool2d_backward},
                                     {"batchnorm2d_forward_train", l_batchnorm2d_forward_train},
                                     {"batchnorm2d_forward_eval", l_batchnorm2d_forward_eval},
                                     {"batchnorm2d_backward", l_batchnorm2d_backward},
                                     {"dropout_forward", l_dropout_forward},
                                     {"dropout_backward", l_dropout_backward},
                                     {"cross_entropy_forward", l_cross_entropy_forward},
                                     {"cross_entropy_backward", l_cross_entropy_backward},
                                     {"count_correct", l_count_correct},
                                     {"apply_mask", l_apply_mask},
                                     {"sgd_step", l_sgd_step},
                                     {"adam_step", l_adam_step},
                                     {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
