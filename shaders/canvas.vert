#version 450
// One quad per instance (4-vertex triangle strip). Instances stay in scene units (points); only
// the push constants change while panning/zooming, so a view change never re-uploads geometry.
// kind 0: rounded rect   a = (x, y, w, h)      b = (radius, border, dash on, dash off)
// kind 1: wire segment   a = (x0, y0, x1, y1)  b = (half width, distance at p0, dash on, dash off)
//                        c.xy = 1 where the segment ends its polyline (an antialiased butt end)
// kind 2: SDF glyph      a = (x, y, w, h)      b = (scene units per atlas texel, SDF spread)  c = uv rect
// kind 3: opaque cell    a = (x, y, w, h)      (far-zoom merged picture; fill only)
layout(location = 0) in vec4 a;
layout(location = 1) in vec4 b;
layout(location = 2) in vec4 c;
layout(location = 3) in uvec4 d;  // fill rgba8, line rgba8, kind, unused

layout(push_constant) uniform View {
  vec2 center;     // scene point at the middle of the viewport
  vec2 ndc_scale;  // 2 * zoom / viewport size (device pixels)
  float zoom;      // device pixels per scene unit
} view;

layout(location = 0) out vec2 v_local;
layout(location = 1) flat out vec4 v_a;
layout(location = 2) flat out vec4 v_b;
layout(location = 3) flat out vec4 v_fill;
layout(location = 4) flat out vec4 v_line;
layout(location = 5) flat out uint v_kind;

void main() {
  vec2 corner = vec2(float(gl_VertexIndex & 1), float(gl_VertexIndex >> 1));
  float px = 1.0 / view.zoom;  // one device pixel in scene units
  uint kind = d.z;
  vec2 p;
  v_a = a;
  v_b = b;
  if (kind == 0u) {
    // Thin borders are kept at least one pixel wide so a zoomed-out diagram does not vanish.
    float border = b.y > 0.0 ? max(b.y, px) : 0.0;
    float m = border * 0.5 + px;
    p = a.xy - m + corner * (a.zw + 2.0 * m);
    v_local = p - (a.xy + a.zw * 0.5);
  } else if (kind == 1u) {
    vec2 dir = a.zw - a.xy;
    float len = length(dir);
    dir = len > 0.0 ? dir / len : vec2(1.0, 0.0);
    vec2 n = vec2(-dir.y, dir.x);
    float m = max(b.x, 0.5 * px) + px;
    vec2 local = vec2(-m + corner.x * (len + 2.0 * m), -m + corner.y * 2.0 * m);
    p = a.xy + dir * local.x + n * local.y;
    v_local = local;
    v_a = vec4(len, c.x, c.y, 0.0);
  } else if (kind == 3u) {
    // At least a pixel each way, so a cell smaller than a pixel still lands on one pixel centre:
    // the cells are opaque and unblended, so the widened ones may overlap without harm.
    vec2 size = max(a.zw, vec2(px));
    p = a.xy + 0.5 * (a.zw - size) + corner * size;
    v_local = vec2(0.0);
  } else {
    p = a.xy + corner * a.zw;
    v_local = mix(c.xy, c.zw, corner);
  }
  v_fill = unpackUnorm4x8(d.x);
  v_line = unpackUnorm4x8(d.y);
  v_kind = kind;
  gl_Position = vec4((p - view.center) * view.ndc_scale, 0.0, 1.0);
}
