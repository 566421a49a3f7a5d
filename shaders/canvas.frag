#version 450
// Coverage from analytic distances (in device pixels), so edges are antialiased at every zoom
// without MSAA. Output is premultiplied alpha (blend ONE, ONE_MINUS_SRC_ALPHA).
layout(location = 0) in vec2 v_local;
layout(location = 1) flat in vec4 v_a;
layout(location = 2) flat in vec4 v_b;
layout(location = 3) flat in vec4 v_fill;
layout(location = 4) flat in vec4 v_line;
layout(location = 5) flat in uint v_kind;

layout(push_constant) uniform View {
  vec2 center;
  vec2 ndc_scale;
  float zoom;
} view;

layout(set = 0, binding = 0) uniform sampler2D atlas;

layout(location = 0) out vec4 out_color;

float dash_mask(float along, float on, float off) {
  if (on <= 0.0) return 1.0;
  float m = mod(along, on + off);
  return clamp(min(m, on - m) * view.zoom + 0.5, 0.0, 1.0);
}

void main() {
  if (v_kind == 0u) {
    vec2 half_size = v_a.zw * 0.5;
    float r = min(v_b.x, min(half_size.x, half_size.y));
    vec2 q = abs(v_local) - half_size + r;
    float d = (length(max(q, 0.0)) + min(max(q.x, q.y), 0.0) - r) * view.zoom;
    float border = v_b.y > 0.0 ? max(v_b.y * view.zoom, 1.0) : 0.0;
    float fill_cov = clamp(0.5 - d, 0.0, 1.0) * v_fill.a;
    float line_cov = border > 0.0 ? clamp(border * 0.5 - abs(d) + 0.5, 0.0, 1.0) * v_line.a : 0.0;
    if (v_b.z > 0.0) {
      // Dashes run along whichever edge is nearest, measured from the middle of that edge.
      vec2 rel = abs(v_local) / max(half_size, vec2(1e-4));
      float along = rel.x > rel.y ? v_local.y + half_size.y : v_local.x + half_size.x;
      line_cov *= dash_mask(along, v_b.z, v_b.w);
    }
    vec3 rgb = v_fill.rgb * fill_cov * (1.0 - line_cov) + v_line.rgb * line_cov;
    float alpha = fill_cov * (1.0 - line_cov) + line_cov;
    if (alpha <= 0.0) discard;
    out_color = vec4(rgb, alpha);
  } else if (v_kind == 1u) {
    // Butt ends, as the export draws wires. Inside a polyline the segments meet edge to edge with
    // hard cuts, so no pixel is covered twice (overlapping antialiased ends would darken every joint).
    float len = v_a.x;
    float x = v_local.x;
    float along = 1.0;
    if (v_a.y > 0.5) along *= clamp(x * view.zoom + 0.5, 0.0, 1.0); else if (x < 0.0) discard;
    if (v_a.z > 0.5) along *= clamp((len - x) * view.zoom + 0.5, 0.0, 1.0); else if (x >= len) discard;
    float d = abs(v_local.y) * view.zoom;
    float half_width = max(v_b.x * view.zoom, 0.5);
    float cov = clamp(half_width - d + 0.5, 0.0, 1.0) * along * v_line.a;
    cov *= dash_mask(v_b.y + clamp(x, 0.0, len), v_b.z, v_b.w);
    if (cov <= 0.0) discard;
    out_color = vec4(v_line.rgb * cov, cov);
  } else if (v_kind == 3u) {
    // Hard edges: neighbouring cells share edges, and antialiasing both would leave seams.
    out_color = vec4(v_fill.rgb, 1.0);
  } else {
    float s = texture(atlas, v_local).r;
    // SDF texels -> scene units -> device pixels; the +0.5 centres the ramp on the outline.
    float d = (s - 128.0 / 255.0) * 255.0 / v_b.y * v_b.x * view.zoom;
    float cov = clamp(d + 0.5, 0.0, 1.0) * v_fill.a;
    if (cov <= 0.0) discard;
    out_color = vec4(v_fill.rgb * cov, cov);
  }
}
