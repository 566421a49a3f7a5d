#include "studio/plots/imgui_window.h"

#include <chrono>

#include <imgui.h>
#include <backends/imgui_impl_vulkan.h>

#include <QFile>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QVulkanDeviceFunctions>
#include <QVulkanFunctions>
#include <QWheelEvent>
#include <algorithm>
#include <iterator>
#include <cfloat>
#include <cstdio>

namespace studio {

namespace {

constexpr const char* kFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
constexpr float kFontPixels = 15.f;

void check_vk(VkResult r) {
  if (r != VK_SUCCESS) std::fprintf(stderr, "ImGui Vulkan backend: VkResult %d\n", int(r));
}

// ImGui 1.87 renamed the keypad's Enter; 1.89 made input events (io.AddKeyEvent and friends) the
// only supported path, and Debian 13 has 1.90. Debian 12's 1.86 still reads io.KeysDown[512] indexed
// by the platform's key codes; Qt's codes are far larger than 512, so keys ImGui cares about get
// small indices of our own there.
#if IMGUI_VERSION_NUM >= 18900
#define CIRCUIT_IMGUI_INPUT_EVENTS 1
constexpr ImGuiKey kKeypadEnter = ImGuiKey_KeypadEnter;
#else
constexpr ImGuiKey kKeypadEnter = ImGuiKey_KeyPadEnter;
#endif

struct KeyIndex {
  int qt;
  ImGuiKey imgui;
};
constexpr KeyIndex kKeys[] = {
    {Qt::Key_Tab, ImGuiKey_Tab},         {Qt::Key_Left, ImGuiKey_LeftArrow},
    {Qt::Key_Right, ImGuiKey_RightArrow}, {Qt::Key_Up, ImGuiKey_UpArrow},
    {Qt::Key_Down, ImGuiKey_DownArrow},   {Qt::Key_PageUp, ImGuiKey_PageUp},
    {Qt::Key_PageDown, ImGuiKey_PageDown}, {Qt::Key_Home, ImGuiKey_Home},
    {Qt::Key_End, ImGuiKey_End},         {Qt::Key_Insert, ImGuiKey_Insert},
    {Qt::Key_Delete, ImGuiKey_Delete},   {Qt::Key_Backspace, ImGuiKey_Backspace},
    {Qt::Key_Space, ImGuiKey_Space},     {Qt::Key_Return, ImGuiKey_Enter},
    {Qt::Key_Escape, ImGuiKey_Escape},   {Qt::Key_Enter, kKeypadEnter},
    {Qt::Key_A, ImGuiKey_A},             {Qt::Key_C, ImGuiKey_C},
    {Qt::Key_V, ImGuiKey_V},             {Qt::Key_X, ImGuiKey_X},
    {Qt::Key_Y, ImGuiKey_Y},             {Qt::Key_Z, ImGuiKey_Z},
};
constexpr int kKeyCount = int(sizeof(kKeys) / sizeof(kKeys[0]));

int key_index(int qt_key) {
  for (int i = 0; i < kKeyCount; ++i)
    if (kKeys[i].qt == qt_key) return i;
  return -1;
}

int button_index(Qt::MouseButton b) {
  switch (b) {
    case Qt::LeftButton: return 0;
    case Qt::RightButton: return 1;
    case Qt::MiddleButton: return 2;
    default: return -1;
  }
}

}  // namespace

/// Draws one ImGui frame per QVulkanWindow frame, inside the window's default render pass.
class ImGuiVulkanRenderer : public QVulkanWindowRenderer {
 public:
  explicit ImGuiVulkanRenderer(ImGuiVulkanWindow* w) : w_(w) {}

  void initResources() override {
    ImGui::SetCurrentContext(w_->ctx_);
    QVulkanDeviceFunctions* df = w_->vulkanInstance()->deviceFunctions(w_->device());
    VkDevice dev = w_->device();

    // The backend allocates one descriptor set (the font texture); a little room spare.
    VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16}};
    VkDescriptorPoolCreateInfo pi{};
    pi.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    pi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
    pi.maxSets = 16;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = sizes;
    check_vk(df->vkCreateDescriptorPool(dev, &pi, nullptr, &pool_));

    // Fonts are rasterised at the device pixel ratio and scaled back, so text stays sharp on
    // high-DPI screens while layout works in logical pixels.
    ImGuiIO& io = ImGui::GetIO();
    const float dpr = float(std::max<qreal>(1.0, w_->devicePixelRatio()));
    io.Fonts->Clear();
    ImFontConfig cfg;
    cfg.OversampleH = 2;
    if (QFile::exists(kFontPath))
      io.Fonts->AddFontFromFileTTF(kFontPath, kFontPixels * dpr, &cfg);
    else
      io.Fonts->AddFontDefault();
    io.FontGlobalScale = 1.f / dpr;

    ImGui_ImplVulkan_InitInfo info{};
    info.Instance = w_->vulkanInstance()->vkInstance();
    info.PhysicalDevice = w_->physicalDevice();
    info.Device = dev;
    info.QueueFamily = w_->graphicsQueueFamilyIndex();
    info.Queue = w_->graphicsQueue();
    info.PipelineCache = VK_NULL_HANDLE;
    info.DescriptorPool = pool_;
    info.Subpass = 0;
    // The swap chain does not exist yet here (its image count reads 0). ImGui only uses the count
    // to rotate its vertex buffers, so it must cover every frame QVulkanWindow may have in flight.
    info.MinImageCount = 2;
    info.ImageCount = std::max<uint32_t>(2, QVulkanWindow::MAX_CONCURRENT_FRAME_COUNT);
    info.MSAASamples = w_->sampleCountFlagBits();
    info.Allocator = nullptr;
    info.CheckVkResultFn = check_vk;
    ImGui_ImplVulkan_Init(&info, w_->defaultRenderPass());
    backend_ = true;

    upload_fonts(df);
  }

  void releaseResources() override {
    if (!backend_) return;
    ImGui::SetCurrentContext(w_->ctx_);
    QVulkanDeviceFunctions* df = w_->vulkanInstance()->deviceFunctions(w_->device());
    df->vkDeviceWaitIdle(w_->device());
    ImGui_ImplVulkan_Shutdown();
    df->vkDestroyDescriptorPool(w_->device(), pool_, nullptr);
    pool_ = VK_NULL_HANDLE;
    backend_ = false;
  }

  void startNextFrame() override {
    ImGui::SetCurrentContext(w_->ctx_);
    QVulkanDeviceFunctions* df = w_->vulkanInstance()->deviceFunctions(w_->device());
    VkCommandBuffer cb = w_->currentCommandBuffer();
    const auto t0 = std::chrono::steady_clock::now();
    const bool probe = w_->grab_probe_.probing;
    if (!probe) w_->frame();

    const ImU32 bg = w_->theme_.window.packed();
    VkClearValue clear[3]{};
    clear[0].color = {{float((bg >> IM_COL32_R_SHIFT) & 0xff) / 255.f,
                       float((bg >> IM_COL32_G_SHIFT) & 0xff) / 255.f,
                       float((bg >> IM_COL32_B_SHIFT) & 0xff) / 255.f, 1.f}};
    if (probe) std::copy(std::begin(kGrabProbeClear), std::end(kGrabProbeClear), clear[0].color.float32);
    clear[1].depthStencil = {1.f, 0};
    clear[2].color = clear[0].color;
    const QSize sz = w_->swapChainImageSize();
    VkRenderPassBeginInfo rp{};
    rp.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO;
    rp.renderPass = w_->defaultRenderPass();
    rp.framebuffer = w_->currentFramebuffer();
    rp.renderArea.extent = {uint32_t(sz.width()), uint32_t(sz.height())};
    rp.clearValueCount = w_->sampleCountFlagBits() > VK_SAMPLE_COUNT_1_BIT ? 3 : 2;
    rp.pClearValues = clear;
    df->vkCmdBeginRenderPass(cb, &rp, VK_SUBPASS_CONTENTS_INLINE);
    if (!probe) ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), cb);
    df->vkCmdEndRenderPass(cb);

    const double cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    w_->frameReady();
    emit w_->frame_done(cpu_ms);
    if (!w_->grabbing_ && (w_->settle_ > 0 || !w_->input_.empty())) {
      w_->settle_ = std::max(0, w_->settle_ - 1);
      w_->requestUpdate();
    }
  }

 private:
#if IMGUI_VERSION_NUM >= 19000
  // ImGui 1.90 uploads the font with a command pool and buffer of its own and frees them itself.
  void upload_fonts(QVulkanDeviceFunctions*) { ImGui_ImplVulkan_CreateFontsTexture(); }
#else
  // ImGui 1.86 records the font upload into a caller's command buffer; a one-off buffer submitted
  // and waited on here keeps the upload out of the frame loop.
  void upload_fonts(QVulkanDeviceFunctions* df) {
    VkDevice dev = w_->device();
    VkCommandBufferAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    ai.commandPool = w_->graphicsCommandPool();
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    check_vk(df->vkAllocateCommandBuffers(dev, &ai, &cb));
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check_vk(df->vkBeginCommandBuffer(cb, &bi));
    ImGui_ImplVulkan_CreateFontsTexture(cb);
    check_vk(df->vkEndCommandBuffer(cb));
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    check_vk(df->vkQueueSubmit(w_->graphicsQueue(), 1, &si, VK_NULL_HANDLE));
    check_vk(df->vkQueueWaitIdle(w_->graphicsQueue()));
    df->vkFreeCommandBuffers(dev, w_->graphicsCommandPool(), 1, &cb);
    ImGui_ImplVulkan_DestroyFontUploadObjects();
  }
#endif

  ImGuiVulkanWindow* w_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  bool backend_ = false;
};

ImGuiVulkanWindow::ImGuiVulkanWindow(QWindow* parent) : QVulkanWindow(parent) {
  // ImGui's colours are authored for a linear (UNORM) target; an sRGB swap chain would wash them
  // out, so prefer UNORM formats when the surface offers them.
  setPreferredColorFormats({VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM});
  ImGuiContext* previous = ImGui::GetCurrentContext();
  ctx_ = ImGui::CreateContext();
  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // the studio's QSettings own the layout, not imgui.ini
  io.LogFilename = nullptr;
  io.BackendPlatformName = "circuit_studio_qt";
#ifndef CIRCUIT_IMGUI_INPUT_EVENTS
  for (int i = 0; i < kKeyCount; ++i) io.KeyMap[kKeys[i].imgui] = i;
#endif
  apply_style();
  if (previous) ImGui::SetCurrentContext(previous);
  clock_.start();
}

ImGuiVulkanWindow::~ImGuiVulkanWindow() {
  // Tear the surface down while this object is still an ImGuiVulkanWindow: QVulkanWindow releases
  // the renderer's resources then, and the renderer needs the ImGui context that is freed below.
  destroy();
  ImGui::DestroyContext(ctx_);
}

QVulkanWindowRenderer* ImGuiVulkanWindow::createRenderer() { return new ImGuiVulkanRenderer(this); }

void ImGuiVulkanWindow::draw_ui() {}

void ImGuiVulkanWindow::apply_style() {
  ImGui::SetCurrentContext(ctx_);
  ImGuiStyle& s = ImGui::GetStyle();
  if (dark_)
    ImGui::StyleColorsDark(&s);
  else
    ImGui::StyleColorsLight(&s);
  s.WindowRounding = 0.f;
  s.FrameRounding = 3.f;
  s.WindowBorderSize = 0.f;
  // Plots and window share one background so panels look like one surface.
  s.Colors[ImGuiCol_WindowBg] = ImGui::ColorConvertU32ToFloat4(theme_.window.packed());
  s.Colors[ImGuiCol_ChildBg] = ImGui::ColorConvertU32ToFloat4(theme_.window.packed());
  s.Colors[ImGuiCol_Text] = ImGui::ColorConvertU32ToFloat4(theme_.text.packed());
  s.Colors[ImGuiCol_TextDisabled] = ImGui::ColorConvertU32ToFloat4(theme_.text_dim.packed());
  // StyleColorsLight draws white frames, invisible on the light background: the grid's shade.
  if (!dark_) s.Colors[ImGuiCol_FrameBg] = ImGui::ColorConvertU32ToFloat4(theme_.grid.packed());
}

void ImGuiVulkanWindow::set_dark(bool dark) {
  dark_ = dark;
  theme_ = Theme::of(dark);
  apply_style();
  request_frames();
}

void ImGuiVulkanWindow::request_frames(int settle) {
  settle_ = std::max(settle_, settle);
  requestUpdate();
}

QImage ImGuiVulkanWindow::grab_image() {
  if (!isExposed() || !supportsGrab()) return {};
  grabbing_ = true;
  // Each grab renders one frame; the first ones let tab bars and auto-fitted layouts settle.
  QImage img;
  for (int i = 0; i < 3; ++i) img = grab();
  img = grab_probe_.true_colours(std::move(img), [this] { return grab(); });
  grabbing_ = false;
  requestUpdate();  // the window may show the probe's frame
  return img;
}

void ImGuiVulkanWindow::frame() {
  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  const qint64 now = clock_.nsecsElapsed();
  io.DeltaTime = std::max(1e-4f, float(double(now - last_ns_) * 1e-9));
  last_ns_ = now;
  const float dpr = float(devicePixelRatio());
  const QSize px = swapChainImageSize();
  io.DisplaySize = ImVec2(float(px.width()) / dpr, float(px.height()) / dpr);
  io.DisplayFramebufferScale = ImVec2(dpr, dpr);
  apply_input();
  ImGui_ImplVulkan_NewFrame();
  ImGui::NewFrame();
  draw_ui();
  ImGui::Render();
}

void ImGuiVulkanWindow::queue(Input in) {
  input_.push_back(std::move(in));
  request_frames(2);
}

void ImGuiVulkanWindow::apply_input() {
  ImGuiIO& io = ImGui::GetIO();
#ifdef CIRCUIT_IMGUI_INPUT_EVENTS
  // ImGui >= 1.89 queues events itself and trickles a press and a release over two frames.
  for (const Input& in : input_) {
    switch (in.kind) {
      case Input::pos: io.AddMousePosEvent(in.x, in.y); break;
      case Input::button: io.AddMouseButtonEvent(in.index, in.down); break;
      case Input::wheel: io.AddMouseWheelEvent(in.x, in.y); break;
      case Input::key: io.AddKeyEvent(kKeys[in.index].imgui, in.down); break;
      case Input::text: io.AddInputCharactersUTF8(in.chars.toUtf8().constData()); break;
      case Input::modifiers:
        io.AddKeyEvent(ImGuiMod_Ctrl, in.index & Qt::ControlModifier);
        io.AddKeyEvent(ImGuiMod_Shift, in.index & Qt::ShiftModifier);
        io.AddKeyEvent(ImGuiMod_Alt, in.index & Qt::AltModifier);
        io.AddKeyEvent(ImGuiMod_Super, in.index & Qt::MetaModifier);
        break;
    }
  }
  input_.clear();
#else
  bool button_changed[5] = {};
  bool any_button = false;
  std::vector<bool> key_changed(kKeyCount, false);
  while (!input_.empty()) {
    const Input& in = input_.front();
    switch (in.kind) {
      case Input::pos:
        // Moving after a press/release in the same frame would report the click elsewhere.
        if (any_button) return;
        io.MousePos = ImVec2(in.x, in.y);
        break;
      case Input::button:
        if (button_changed[in.index]) return;
        button_changed[in.index] = any_button = true;
        io.MouseDown[in.index] = in.down;
        break;
      case Input::wheel:
        io.MouseWheel += in.y;
        io.MouseWheelH += in.x;
        break;
      case Input::key:
        if (key_changed[in.index]) return;
        key_changed[in.index] = true;
        io.KeysDown[in.index] = in.down;
        break;
      case Input::text:
        io.AddInputCharactersUTF8(in.chars.toUtf8().constData());
        break;
      case Input::modifiers:
        io.KeyCtrl = in.index & Qt::ControlModifier;
        io.KeyShift = in.index & Qt::ShiftModifier;
        io.KeyAlt = in.index & Qt::AltModifier;
        io.KeySuper = in.index & Qt::MetaModifier;
        break;
    }
    input_.pop_front();
  }
#endif
}

void ImGuiVulkanWindow::mousePressEvent(QMouseEvent* e) {
  const int b = button_index(e->button());
  queue({Input::pos, float(e->position().x()), float(e->position().y())});
  if (b >= 0) queue({Input::button, 0, 0, b, true});
  e->accept();
}

void ImGuiVulkanWindow::mouseReleaseEvent(QMouseEvent* e) {
  const int b = button_index(e->button());
  queue({Input::pos, float(e->position().x()), float(e->position().y())});
  if (b >= 0) queue({Input::button, 0, 0, b, false});
  e->accept();
}

// ImGui detects double clicks from press timing itself; Qt's extra event carries nothing new.
void ImGuiVulkanWindow::mouseDoubleClickEvent(QMouseEvent* e) { e->accept(); }

void ImGuiVulkanWindow::mouseMoveEvent(QMouseEvent* e) {
  queue({Input::pos, float(e->position().x()), float(e->position().y())});
  e->accept();
}

void ImGuiVulkanWindow::wheelEvent(QWheelEvent* e) {
  // One notch is 120 eighths of a degree; ImGui scrolls one "line" per unit.
  const QPoint d = e->angleDelta();
  queue({Input::wheel, float(d.x()) / 120.f, float(d.y()) / 120.f});
  e->accept();
}

void ImGuiVulkanWindow::keyPressEvent(QKeyEvent* e) {
  queue({Input::modifiers, 0, 0, int(e->modifiers())});
  if (const int k = key_index(e->key()); k >= 0) queue({Input::key, 0, 0, k, true});
  const QString t = e->text();
  if (!t.isEmpty() && t.at(0).isPrint()) {
    Input in{Input::text};
    in.chars = t;
    queue(std::move(in));
  }
  e->accept();
}

void ImGuiVulkanWindow::keyReleaseEvent(QKeyEvent* e) {
  queue({Input::modifiers, 0, 0, int(e->modifiers())});
  if (const int k = key_index(e->key()); k >= 0) queue({Input::key, 0, 0, k, false});
  e->accept();
}

void ImGuiVulkanWindow::focusOutEvent(QFocusEvent*) {
  // Releases that happen while another window has focus never reach us.
  queue({Input::modifiers, 0, 0, 0});
  for (int b = 0; b < 3; ++b) queue({Input::button, 0, 0, b, false});
}

bool ImGuiVulkanWindow::event(QEvent* e) {
  const bool r = QVulkanWindow::event(e);
  switch (e->type()) {
    case QEvent::Leave:
      queue({Input::pos, -FLT_MAX, -FLT_MAX});
      break;
    case QEvent::Expose:
    case QEvent::Resize:
      if (isExposed()) request_frames();
      break;
    default:
      break;
  }
  return r;
}

}  // namespace studio
