/* Bilinear lookups of multi-level feature grids and their gradient (nvcodec/model/grids.py,
 * `grid_lookup`, the case without a coordinate gradient) in one pass per level.
 *
 * The torch path builds corner indices and weights as [L, S, 4] tensors, gathers with
 * embedding_bag and scatters with index_add_: ~25 ops and their temporaries per call. Here
 * each block of samples gets its corners and weights in a loop the compiler vectorises, then
 * reads or adds the corner rows, with the channel count a constant where it is 1, 2, 3 or 4
 * (the generic loop over rows of unknown length ran at ~60 cycles a lookup).
 *
 * Same convention and rounding steps as the torch path: pos = c res - 0.5 clamped to
 * [0, res - 1], first cell min(floor(pos), res - 2), weights (1-fx)(1-fy), fx(1-fy), (1-fx)fy,
 * fx fy; the gradient adds w_k g into the corner rows in sample order, corner by corner (as
 * index_add_ does on CPU), so it is deterministic. Built with -ffp-contract=off.
 */
#include <stdint.h>

#define BLOCK 64 /* samples whose corners are computed together */
#define ALWAYS static inline __attribute__((always_inline))

/* what a level's corner arithmetic needs, from dims {N, ry, rx} */
struct level {
    float rx, ry, hx, hy; /* resolution, last position */
    int32_t mx, my, width; /* last first cell, row length */
    int64_t plane, dx, dy; /* rows per grid; row steps to the next column and row */
};

static void level_of(const int64_t *dims, struct level *v)
{
    const int64_t ry = dims[1], rx = dims[2];
    v->rx = (float)rx;
    v->ry = (float)ry;
    v->hx = (float)(rx - 1);
    v->hy = (float)(ry - 1);
    v->mx = (int32_t)(rx > 1 ? rx - 2 : 0);
    v->my = (int32_t)(ry > 1 ? ry - 2 : 0);
    v->width = (int32_t)rx;
    v->plane = ry * rx;
    v->dx = rx > 1 ? 1 : 0; /* a one-cell axis: the weight is 0 anyway */
    v->dy = ry > 1 ? rx : 0;
}

/* first corner rows and the four weights of samples s0 .. s0 + n - 1, in a loop the compiler
 * vectorises: the level's constants in locals, no branch, and the cell's index by truncation,
 * which is floor on the clamped, non-negative position (a NaN coordinate clamps to 0, so
 * every row read stays in the table) */
ALWAYS void corners(const struct level *v, const float *restrict coords, const int64_t *restrict grid_index,
                    int64_t s0, int n, int64_t *restrict row, float (*restrict w)[BLOCK])
{
    const float rx = v->rx, ry = v->ry, hx = v->hx, hy = v->hy;
    const int32_t mx = v->mx, my = v->my, width = v->width;
    const float *restrict xy = coords + 2 * s0;
    int32_t cell[BLOCK];
    for (int i = 0; i < n; i++) {
        float px = xy[2 * i] * rx - 0.5f, py = xy[2 * i + 1] * ry - 0.5f;
        px = px > 0.0f ? px : 0.0f;
        px = px < hx ? px : hx;
        py = py > 0.0f ? py : 0.0f;
        py = py < hy ? py : hy;
        int32_t ix = (int32_t)px, iy = (int32_t)py;
        ix = ix < mx ? ix : mx;
        iy = iy < my ? iy : my;
        float fx = px - (float)ix, fy = py - (float)iy, gx = 1.0f - fx, gy = 1.0f - fy;
        cell[i] = iy * width + ix;
        w[0][i] = gx * gy;
        w[1][i] = fx * gy;
        w[2][i] = gx * fy;
        w[3][i] = fx * fy;
    }
    if (grid_index) {
        const int64_t plane = v->plane;
        for (int i = 0; i < n; i++)
            row[i] = grid_index[s0 + i] * plane + cell[i];
    } else {
        for (int i = 0; i < n; i++)
            row[i] = cell[i];
    }
}

ALWAYS void forward_level(int64_t samples, int64_t C, const float *restrict coords,
                          const int64_t *restrict grid_index, const struct level *v, const float *restrict t,
                          float *restrict out, int64_t stride)
{
    int64_t row[BLOCK];
    float w[4][BLOCK];
    const int64_t d1 = v->dx * C, d2 = v->dy * C, d3 = (v->dx + v->dy) * C;
    for (int64_t s0 = 0; s0 < samples; s0 += BLOCK) {
        const int n = samples - s0 < BLOCK ? (int)(samples - s0) : BLOCK;
        corners(v, coords, grid_index, s0, n, row, w);
        for (int i = 0; i < n; i++) {
            const float *r = t + row[i] * C;
            float *o = out + (s0 + i) * stride;
            for (int64_t c = 0; c < C; c++) {
                float acc = w[0][i] * r[c];
                acc = acc + w[1][i] * r[d1 + c];
                acc = acc + w[2][i] * r[d2 + c];
                acc = acc + w[3][i] * r[d3 + c];
                o[c] = acc;
            }
        }
    }
}

ALWAYS void backward_level(int64_t samples, int64_t C, const float *restrict coords,
                           const int64_t *restrict grid_index, const struct level *v, const float *restrict go_l,
                           int64_t stride, float *restrict g)
{
    int64_t row[BLOCK];
    float w[4][BLOCK];
    const int64_t d[4] = {0, v->dx * C, v->dy * C, (v->dx + v->dy) * C};
    for (int64_t s0 = 0; s0 < samples; s0 += BLOCK) {
        const int n = samples - s0 < BLOCK ? (int)(samples - s0) : BLOCK;
        corners(v, coords, grid_index, s0, n, row, w);
        for (int i = 0; i < n; i++) {
            const float *go = go_l + (s0 + i) * stride;
            float *r = g + row[i] * C;
            for (int q = 0; q < 4; q++)
                for (int64_t c = 0; c < C; c++)
                    r[d[q] + c] += w[q][i] * go[c];
        }
    }
}

/* the level loop with the channel count a compile-time constant where it is small */
#define BY_CHANNELS(call)            \
    switch (channels) {              \
    case 1: call(1); break;          \
    case 2: call(2); break;          \
    case 3: call(3); break;          \
    case 4: call(4); break;          \
    default: call(channels); break;  \
    }

/* out[s, l C + c] = sum_k w_k table_l[row_k, c] for the levels l0 <= l < l1 of `levels`;
 * coords [S, 2] (x, y) in [0, 1], grid_index [S] or NULL (grid 0), tables[l] [N ry rx, C] rows.
 * Levels write their own columns, so calls for disjoint level ranges may run side by side. */
void nvc_grid_forward(int64_t levels, int64_t l0, int64_t l1, int64_t samples, int64_t channels, const float *coords,
                      const int64_t *grid_index, const int64_t *dims, const float *const *tables, float *out)
{
    const int64_t stride = levels * channels;
    for (int64_t l = l0; l < l1; l++) {
        struct level v;
        level_of(dims + 3 * l, &v);
#define FORWARD(C) forward_level(samples, C, coords, grid_index, &v, tables[l], out + l * channels, stride)
        BY_CHANNELS(FORWARD)
#undef FORWARD
    }
}

/* grads[l][row, c] += sum over samples and corners of w_k grad_out[s, l C + c] for the levels
 * l0 <= l < l1 of `levels` (grads[l] NULL: level l needs none). Each level adds into its own
 * table in sample order, so calls for disjoint level ranges may run side by side and the sums
 * do not depend on how the levels were split. */
void nvc_grid_backward(int64_t levels, int64_t l0, int64_t l1, int64_t samples, int64_t channels, const float *coords,
                       const int64_t *grid_index, const int64_t *dims, const float *grad_out, float *const *grads)
{
    const int64_t stride = levels * channels;
    for (int64_t l = l0; l < l1; l++) {
        if (!grads[l])
            continue;
        struct level v;
        level_of(dims + 3 * l, &v);
#define BACKWARD(C) backward_level(samples, C, coords, grid_index, &v, grad_out + l * channels, stride, grads[l])
        BY_CHANNELS(BACKWARD)
#undef BACKWARD
    }
}

/* ------------------------------------------------------------------ the latent of points */

/* The latent of points of a model without an alignment flow (nvcodec/model/point_features.py):
 * point p is pixel pix[p] = y W + x of GOP gop[p]. For each neighbour j < nn its coordinates
 * ((x + 0.5) / W, (y + 0.5) / H) normalised by the bounds {lo x, lo y, hi x, hi y} of grid
 * g = gop[p] + nb[j] ((c - lo) / (hi - lo), NaN to 0, clamped to [0, 1]: the float steps of
 * normalize.normalize_axis) look up the nlat latent levels of grid g; the coordinates
 * themselves look up the nstat static levels. dims, tables: latent levels, then static ones.
 * z[p] = latent levels of neighbour 0, of neighbour 1, ..., static levels (Z floats). coords
 * [(nn + 1) P][2] and gidx [nn P] (written) are what the gradient reads: neighbour j's point p
 * at row j P + p, the static lookup's at nn P + p. */
void nvc_point_features(int64_t P, const int64_t *pix, const int64_t *gop, int64_t W,
                        int64_t H, int64_t nn, const int64_t *nb, const float *bounds, int64_t nlat, int64_t nstat,
                        int64_t channels, const int64_t *dims, const float *const *tables, float *coords,
                        int64_t *gidx, float *z)
{
    const int64_t Z = (nn * nlat + nstat) * channels;
    const float fw = (float)W, fh = (float)H;
    for (int64_t p = 0; p < P; p++) {
        const float cx = ((float)(pix[p] % W) + 0.5f) / fw, cy = ((float)(pix[p] / W) + 0.5f) / fh;
        for (int64_t j = 0; j < nn; j++) {
            const int64_t g = gop[p] + nb[j];
            const float *b = bounds + 4 * g;
            float nx = (cx - b[0]) / (b[2] - b[0]), ny = (cy - b[1]) / (b[3] - b[1]);
            nx = nx > 0.0f ? nx : 0.0f; /* NaN and -inf to 0 */
            ny = ny > 0.0f ? ny : 0.0f;
            coords[2 * (j * P + p)] = nx < 1.0f ? nx : 1.0f;
            coords[2 * (j * P + p) + 1] = ny < 1.0f ? ny : 1.0f;
            gidx[j * P + p] = g;
        }
        coords[2 * (nn * P + p)] = cx;
        coords[2 * (nn * P + p) + 1] = cy;
    }
    for (int64_t l = 0; l < nlat + nstat; l++) {
        struct level v;
        level_of(dims + 3 * l, &v);
        const int latent = l < nlat;
        for (int64_t j = 0; j < (latent ? nn : 1); j++) {
            const int64_t row0 = latent ? j * P : nn * P;
            float *out = z + (latent ? j * nlat + l : nn * nlat + l - nlat) * channels;
            const int64_t *gi = latent ? gidx + row0 : 0;
#define FORWARD(C) forward_level(P, C, coords + 2 * row0, gi, &v, tables[l], out, Z)
            BY_CHANNELS(FORWARD)
#undef FORWARD
        }
    }
}

/* The gradient of nvc_point_features for the levels l0 <= l < l1 (latent levels, then static):
 * grads[l][row, c] += sum over points (neighbour after neighbour) and corners of w_k dz[p, col]
 * (grads[l] NULL: none). Each level adds into its own table in a fixed order, so calls for
 * disjoint level ranges may run side by side. */
void nvc_point_features_backward(int64_t P, int64_t l0, int64_t l1, int64_t nn, int64_t nlat, int64_t nstat,
                                 int64_t channels, const float *coords, const int64_t *gidx, const int64_t *dims,
                                 const float *dz, float *const *grads)
{
    const int64_t Z = (nn * nlat + nstat) * channels;
    for (int64_t l = l0; l < l1; l++) {
        if (!grads[l])
            continue;
        struct level v;
        level_of(dims + 3 * l, &v);
        const int latent = l < nlat;
        for (int64_t j = 0; j < (latent ? nn : 1); j++) {
            const int64_t row0 = latent ? j * P : nn * P;
            const float *go = dz + (latent ? j * nlat + l : nn * nlat + l - nlat) * channels;
            const int64_t *gi = latent ? gidx + row0 : 0;
#define BACKWARD(C) backward_level(P, C, coords + 2 * row0, gi, &v, go, Z, grads[l])
            BY_CHANNELS(BACKWARD)
#undef BACKWARD
        }
    }
}
