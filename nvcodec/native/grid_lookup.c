/* Bilinear lookups of multi-level feature grids and their gradient (nvcodec/model/grids.py,
 * `grid_lookup`, the case without a coordinate gradient) in one pass per level.
 *
 * The torch path builds corner indices and weights as [L, S, 4] tensors, gathers with
 * embedding_bag and scatters with index_add_: ~25 ops and their temporaries per call. Here
 * each sample's corners and weights are computed where they are used.
 *
 * Same convention and rounding steps as the torch path: pos = c res - 0.5 clamped to
 * [0, res - 1], first cell min(floor(pos), res - 2), weights (1-fx)(1-fy), fx(1-fy), (1-fx)fy,
 * fx fy; the gradient adds w_k g into the corner rows in sample order, corner by corner (as
 * index_add_ does on CPU), so it is deterministic. Built with -ffp-contract=off.
 */
#include <math.h>
#include <stdint.h>

struct corners {
    int64_t row[4];
    float w[4];
};

/* dims[l] = {N, ry, rx}: grids, rows, columns of level l */
static inline void corners_of(float cx, float cy, int64_t grid, const int64_t *dims, struct corners *k)
{
    const int64_t ry = dims[1], rx = dims[2];
    float px = cx * (float)rx - 0.5f, py = cy * (float)ry - 0.5f;
    px = px < 0.0f ? 0.0f : (px > (float)(rx - 1) ? (float)(rx - 1) : px);
    py = py < 0.0f ? 0.0f : (py > (float)(ry - 1) ? (float)(ry - 1) : py);
    float x0 = floorf(px), y0 = floorf(py);
    float xmax = (float)(rx > 1 ? rx - 2 : 0), ymax = (float)(ry > 1 ? ry - 2 : 0);
    x0 = x0 < xmax ? x0 : xmax;
    y0 = y0 < ymax ? y0 : ymax;
    float fx = px - x0, fy = py - y0, gx = 1.0f - fx, gy = 1.0f - fy;
    int64_t ix = (int64_t)x0, iy = (int64_t)y0;
    int64_t dx = rx > 1 ? 1 : 0, dy = ry > 1 ? rx : 0; /* a one-cell axis: the weight is 0 anyway */
    int64_t base = grid * ry * rx + iy * rx + ix;
    k->row[0] = base;
    k->row[1] = base + dx;
    k->row[2] = base + dy;
    k->row[3] = base + dy + dx;
    k->w[0] = gx * gy;
    k->w[1] = fx * gy;
    k->w[2] = gx * fy;
    k->w[3] = fx * fy;
}

/* out[s, l C + c] = sum_k w_k table_l[row_k, c] for the levels l0 <= l < l1 of `levels`;
 * coords [S, 2] (x, y) in [0, 1], grid_index [S] or NULL (grid 0), tables[l] [N ry rx, C] rows.
 * Levels write their own columns, so calls for disjoint level ranges may run side by side. */
void nvc_grid_forward(int64_t levels, int64_t l0, int64_t l1, int64_t samples, int64_t channels, const float *coords,
                      const int64_t *grid_index, const int64_t *dims, const float *const *tables, float *out)
{
    const int64_t stride = levels * channels;
    for (int64_t l = l0; l < l1; l++) {
        const float *t = tables[l];
        for (int64_t s = 0; s < samples; s++) {
            struct corners k;
            corners_of(coords[2 * s], coords[2 * s + 1], grid_index ? grid_index[s] : 0, dims + 3 * l, &k);
            float *o = out + s * stride + l * channels;
            for (int64_t c = 0; c < channels; c++) {
                float acc = k.w[0] * t[k.row[0] * channels + c];
                acc = acc + k.w[1] * t[k.row[1] * channels + c];
                acc = acc + k.w[2] * t[k.row[2] * channels + c];
                acc = acc + k.w[3] * t[k.row[3] * channels + c];
                o[c] = acc;
            }
        }
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
        float *g = grads[l];
        if (!g)
            continue;
        for (int64_t s = 0; s < samples; s++) {
            struct corners k;
            corners_of(coords[2 * s], coords[2 * s + 1], grid_index ? grid_index[s] : 0, dims + 3 * l, &k);
            const float *go = grad_out + s * stride + l * channels;
            for (int q = 0; q < 4; q++)
                for (int64_t c = 0; c < channels; c++)
                    g[k.row[q] * channels + c] += k.w[q] * go[c];
        }
    }
}
