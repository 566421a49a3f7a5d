#include "canvas_window.h"

#include <QDropEvent>
#include <QFileInfo>
#include <QMimeData>

#include <QKeyEvent>
#include <QMouseEvent>
#include <QVulkanDeviceFunctions>
#include <QVulkanFunctions>
#include <QWheelEvent>
#include <dlfcn.h>

#include <algorithm>
#include <iterator>
#include <chrono>
#include <cmath>
#include <cstring>

#include "glyph_atlas.h"

namespace studio {

namespace {

constexpr uint32_t kVertSpv[] =
#include "shaders/canvas.vert.inc"
    ;
constexpr uint32_t kFragSpv[] =
#include "shaders/canvas.frag.inc"
    ;

struct PushView {
  float center[2];
  float ndc_scale[2];
  float zoom;
};

constexpr double kMinZoom = 0.001, kMaxZoom = 50;

// Levels of detail by device pixels per point: below 1/3, 9 pt text is under 3 pixels (a smudge,
// and most of a zoomed-out frame's cost). Below 1/20 a box is a pixel or two high and all border:
// there the canvas draws the merged grid picture (MeshDetail::cell), one level per halving of
// the zoom, with a cell between half a pixel and one pixel, so a whole 2,000-node diagram is a
// few thousand opaque rectangles instead of tens of thousands of sub-pixel quads piled up.
constexpr double kTextZoom = 1.0 / 3, kFarZoom = 1.0 / 20;
constexpr int kFarLevels = 6;  // cells 20 .. 640 points: down to kMinZoom at under a pixel
std::vector<canvas::MeshDetail> lod_details() {
  std::vector<canvas::MeshDetail> v = {{}, {.tolerance = 0.5, .text = false}};
  for (int k = 0; k < kFarLevels; ++k) v.push_back({.text = false, .cell = std::ldexp(1 / kFarZoom, k)});
  return v;
}

circuit::diagram::Point pt(QPointF p) { return {p.x(), p.y()}; }

}  // namespace

// Owns every Vulkan object of one canvas; QVulkanWindow creates it with the device and drops it
// with the device, so a lost device or a re-shown window starts clean.
class CanvasRenderer : public QVulkanWindowRenderer {
 public:
  explicit CanvasRenderer(DiagramCanvas* w) : w_(w) {}
  void initResources() override;
  void releaseResources() override;
  void startNextFrame() override;

 private:
  struct Buffer {
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    void* map = nullptr;
    VkDeviceSize size = 0;
  };
  uint32_t memory_type(uint32_t bits, VkMemoryPropertyFlags want) const;
  bool make_buffer(Buffer& b, VkDeviceSize size, VkBufferUsageFlags usage);
  void free_buffer(Buffer& b);
  void upload_atlas();
  void make_pipeline();

  DiagramCanvas* w_;
  QVulkanDeviceFunctions* df_ = nullptr;
  VkDevice dev_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  VkDescriptorSet set_ = VK_NULL_HANDLE;
  VkImage atlas_ = VK_NULL_HANDLE;
  VkDeviceMemory atlas_mem_ = VK_NULL_HANDLE;
  VkImageView atlas_view_ = VK_NULL_HANDLE;
  VkSampler sampler_ = VK_NULL_HANDLE;
  Buffer base_;  // every level of detail, one after another
  std::vector<uint32_t> lod_offset_;
  uint64_t base_version_ = ~uint64_t(0);
  Buffer overlay_[QVulkanWindow::MAX_CONCURRENT_FRAME_COUNT];
  VkQueryPool queries_ = VK_NULL_HANDLE;
  bool query_written_[QVulkanWindow::MAX_CONCURRENT_FRAME_COUNT] = {};
  double ns_per_tick_ = 0, last_gpu_ms_ = 0;
};

uint32_t CanvasRenderer::memory_type(uint32_t bits, VkMemoryPropertyFlags want) const {
  VkPhysicalDeviceMemoryProperties props;
  w_->vulkanInstance()->functions()->vkGetPhysicalDeviceMemoryProperties(w_->physicalDevice(), &props);
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (props.memoryTypes[i].propertyFlags & want) == want) return i;
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i)
    if (bits & (1u << i)) return i;
  return 0;
}

bool CanvasRenderer::make_buffer(Buffer& b, VkDeviceSize size, VkBufferUsageFlags usage) {
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = std::max<VkDeviceSize>(size, 64);
  bi.usage = usage;
  if (df_->vkCreateBuffer(dev_, &bi, nullptr, &b.buf) != VK_SUCCESS) return false;
  VkMemoryRequirements req;
  df_->vkGetBufferMemoryRequirements(dev_, b.buf, &req);
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  // Host-visible and coherent: geometry is written once per scene by the CPU and read in place.
  ai.memoryTypeIndex = memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  if (df_->vkAllocateMemory(dev_, &ai, nullptr, &b.mem) != VK_SUCCESS) return false;
  df_->vkBindBufferMemory(dev_, b.buf, b.mem, 0);
  df_->vkMapMemory(dev_, b.mem, 0, VK_WHOLE_SIZE, 0, &b.map);
  b.size = bi.size;
  return true;
}

void CanvasRenderer::free_buffer(Buffer& b) {
  if (b.mem) {
    df_->vkUnmapMemory(dev_, b.mem);
    df_->vkFreeMemory(dev_, b.mem, nullptr);
  }
  if (b.buf) df_->vkDestroyBuffer(dev_, b.buf, nullptr);
  b = Buffer{};
}

void CanvasRenderer::upload_atlas() {
  const canvas::GlyphAtlas& atlas = canvas::GlyphAtlas::shared();
  if (!atlas.error().empty()) qWarning("%s", atlas.error().c_str());
  uint32_t width = std::max(1, atlas.width()), height = std::max(1, atlas.height());
  std::vector<uint8_t> pixels = atlas.pixels();
  pixels.resize(size_t(width) * height, 0);

  VkImageCreateInfo ii{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ii.imageType = VK_IMAGE_TYPE_2D;
  ii.format = VK_FORMAT_R8_UNORM;
  ii.extent = {width, height, 1};
  ii.mipLevels = 1;
  ii.arrayLayers = 1;
  ii.samples = VK_SAMPLE_COUNT_1_BIT;
  ii.tiling = VK_IMAGE_TILING_OPTIMAL;
  ii.usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
  ii.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  df_->vkCreateImage(dev_, &ii, nullptr, &atlas_);
  VkMemoryRequirements req;
  df_->vkGetImageMemoryRequirements(dev_, atlas_, &req);
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  df_->vkAllocateMemory(dev_, &ai, nullptr, &atlas_mem_);
  df_->vkBindImageMemory(dev_, atlas_, atlas_mem_, 0);

  Buffer staging;
  make_buffer(staging, pixels.size(), VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  std::memcpy(staging.map, pixels.data(), pixels.size());

  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = w_->graphicsCommandPool();
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cb;
  df_->vkAllocateCommandBuffers(dev_, &cai, &cb);
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  df_->vkBeginCommandBuffer(cb, &bi);
  VkImageMemoryBarrier barrier{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  barrier.srcQueueFamilyIndex = barrier.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  barrier.image = atlas_;
  barrier.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  barrier.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  barrier.newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  barrier.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  df_->vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0, nullptr, 1,
                            &barrier);
  VkBufferImageCopy copy{};
  copy.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  copy.imageExtent = {width, height, 1};
  df_->vkCmdCopyBufferToImage(cb, staging.buf, atlas_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &copy);
  barrier.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  barrier.newLayout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL;
  barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
  df_->vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT, 0, 0, nullptr, 0, nullptr, 1,
                            &barrier);
  df_->vkEndCommandBuffer(cb);
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  df_->vkQueueSubmit(w_->graphicsQueue(), 1, &si, VK_NULL_HANDLE);
  df_->vkQueueWaitIdle(w_->graphicsQueue());
  df_->vkFreeCommandBuffers(dev_, w_->graphicsCommandPool(), 1, &cb);
  free_buffer(staging);

  VkImageViewCreateInfo vi{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
  vi.image = atlas_;
  vi.viewType = VK_IMAGE_VIEW_TYPE_2D;
  vi.format = VK_FORMAT_R8_UNORM;
  vi.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  df_->vkCreateImageView(dev_, &vi, nullptr, &atlas_view_);
  VkSamplerCreateInfo sci{VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
  sci.magFilter = sci.minFilter = VK_FILTER_LINEAR;  // the SDF must be interpolated, never snapped
  sci.mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST;
  sci.addressModeU = sci.addressModeV = sci.addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE;
  sci.maxLod = 0;
  df_->vkCreateSampler(dev_, &sci, nullptr, &sampler_);
}

void CanvasRenderer::make_pipeline() {
  VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1, VK_SHADER_STAGE_FRAGMENT_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dli.bindingCount = 1;
  dli.pBindings = &binding;
  df_->vkCreateDescriptorSetLayout(dev_, &dli, nullptr, &set_layout_);
  VkPushConstantRange push{VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(PushView)};
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &set_layout_;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &push;
  df_->vkCreatePipelineLayout(dev_, &pli, nullptr, &layout_);

  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.maxSets = 1;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  df_->vkCreateDescriptorPool(dev_, &dpi, nullptr, &pool_);
  VkDescriptorSetAllocateInfo dai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  dai.descriptorPool = pool_;
  dai.descriptorSetCount = 1;
  dai.pSetLayouts = &set_layout_;
  df_->vkAllocateDescriptorSets(dev_, &dai, &set_);
  VkDescriptorImageInfo image{sampler_, atlas_view_, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL};
  VkWriteDescriptorSet write{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
  write.dstSet = set_;
  write.descriptorCount = 1;
  write.descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
  write.pImageInfo = &image;
  df_->vkUpdateDescriptorSets(dev_, 1, &write, 0, nullptr);

  auto module = [&](const uint32_t* code, size_t bytes) {
    VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = bytes;
    mi.pCode = code;
    VkShaderModule m = VK_NULL_HANDLE;
    df_->vkCreateShaderModule(dev_, &mi, nullptr, &m);
    return m;
  };
  VkShaderModule vert = module(kVertSpv, sizeof(kVertSpv)), frag = module(kFragSpv, sizeof(kFragSpv));
  VkPipelineShaderStageCreateInfo stages[2] = {
      {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_VERTEX_BIT, vert, "main", nullptr},
      {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_FRAGMENT_BIT, frag, "main", nullptr}};

  VkVertexInputBindingDescription vb{0, sizeof(canvas::Instance), VK_VERTEX_INPUT_RATE_INSTANCE};
  VkVertexInputAttributeDescription attrs[4] = {{0, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 0},
                                                {1, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 16},
                                                {2, 0, VK_FORMAT_R32G32B32A32_SFLOAT, 32},
                                                {3, 0, VK_FORMAT_R32G32B32A32_UINT, 48}};
  VkPipelineVertexInputStateCreateInfo vin{VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
  vin.vertexBindingDescriptionCount = 1;
  vin.pVertexBindingDescriptions = &vb;
  vin.vertexAttributeDescriptionCount = 4;
  vin.pVertexAttributeDescriptions = attrs;
  VkPipelineInputAssemblyStateCreateInfo ia{VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO};
  ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_STRIP;
  VkPipelineViewportStateCreateInfo vp{VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO};
  vp.viewportCount = vp.scissorCount = 1;
  VkPipelineRasterizationStateCreateInfo rs{VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO};
  rs.polygonMode = VK_POLYGON_MODE_FILL;
  rs.cullMode = VK_CULL_MODE_NONE;
  rs.lineWidth = 1;
  VkPipelineMultisampleStateCreateInfo ms{VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO};
  ms.rasterizationSamples = w_->sampleCountFlagBits();
  VkPipelineDepthStencilStateCreateInfo ds{VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO};
  VkPipelineColorBlendAttachmentState blend{};
  blend.blendEnable = VK_TRUE;  // premultiplied alpha from the fragment shader
  blend.srcColorBlendFactor = blend.srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE;
  blend.dstColorBlendFactor = blend.dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
  blend.colorBlendOp = blend.alphaBlendOp = VK_BLEND_OP_ADD;
  blend.colorWriteMask = 0xF;
  VkPipelineColorBlendStateCreateInfo cb{VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO};
  cb.attachmentCount = 1;
  cb.pAttachments = &blend;
  VkDynamicState dyn[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dy{VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO};
  dy.dynamicStateCount = 2;
  dy.pDynamicStates = dyn;

  VkGraphicsPipelineCreateInfo pi{VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO};
  pi.stageCount = 2;
  pi.pStages = stages;
  pi.pVertexInputState = &vin;
  pi.pInputAssemblyState = &ia;
  pi.pViewportState = &vp;
  pi.pRasterizationState = &rs;
  pi.pMultisampleState = &ms;
  pi.pDepthStencilState = &ds;
  pi.pColorBlendState = &cb;
  pi.pDynamicState = &dy;
  pi.layout = layout_;
  pi.renderPass = w_->defaultRenderPass();
  if (df_->vkCreateGraphicsPipelines(dev_, VK_NULL_HANDLE, 1, &pi, nullptr, &pipeline_) != VK_SUCCESS)
    qWarning("canvas: could not create the Vulkan pipeline");
  df_->vkDestroyShaderModule(dev_, vert, nullptr);
  df_->vkDestroyShaderModule(dev_, frag, nullptr);
}

void CanvasRenderer::initResources() {
  dev_ = w_->device();
  df_ = w_->vulkanInstance()->deviceFunctions(dev_);
  upload_atlas();
  make_pipeline();

  // GPU time from timestamps, when the queue has them (lavapipe does).
  uint32_t n = 0;
  auto* f = w_->vulkanInstance()->functions();
  f->vkGetPhysicalDeviceQueueFamilyProperties(w_->physicalDevice(), &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  f->vkGetPhysicalDeviceQueueFamilyProperties(w_->physicalDevice(), &n, families.data());
  uint32_t q = w_->graphicsQueueFamilyIndex();
  if (q < n && families[q].timestampValidBits > 0) {
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = 2 * QVulkanWindow::MAX_CONCURRENT_FRAME_COUNT;
    if (df_->vkCreateQueryPool(dev_, &qi, nullptr, &queries_) != VK_SUCCESS) queries_ = VK_NULL_HANDLE;
    ns_per_tick_ = w_->physicalDeviceProperties()->limits.timestampPeriod;
  }
  base_version_ = ~uint64_t(0);
}

void CanvasRenderer::releaseResources() {
  free_buffer(base_);
  for (auto& b : overlay_) free_buffer(b);
  if (queries_) df_->vkDestroyQueryPool(dev_, queries_, nullptr);
  if (pipeline_) df_->vkDestroyPipeline(dev_, pipeline_, nullptr);
  if (layout_) df_->vkDestroyPipelineLayout(dev_, layout_, nullptr);
  if (pool_) df_->vkDestroyDescriptorPool(dev_, pool_, nullptr);
  if (set_layout_) df_->vkDestroyDescriptorSetLayout(dev_, set_layout_, nullptr);
  if (sampler_) df_->vkDestroySampler(dev_, sampler_, nullptr);
  if (atlas_view_) df_->vkDestroyImageView(dev_, atlas_view_, nullptr);
  if (atlas_) df_->vkDestroyImage(dev_, atlas_, nullptr);
  if (atlas_mem_) df_->vkFreeMemory(dev_, atlas_mem_, nullptr);
  queries_ = VK_NULL_HANDLE;
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
  set_layout_ = VK_NULL_HANDLE;
  sampler_ = VK_NULL_HANDLE;
  atlas_view_ = VK_NULL_HANDLE;
  atlas_ = VK_NULL_HANDLE;
  atlas_mem_ = VK_NULL_HANDLE;
  for (bool& b : query_written_) b = false;
}

void CanvasRenderer::startNextFrame() {
  auto t0 = std::chrono::steady_clock::now();
  VkCommandBuffer cb = w_->currentCommandBuffer();
  int frame = w_->currentFrame();
  // QVulkanWindow has waited for this slot's fence, so its timestamps (if any) are final.
  if (queries_ && query_written_[frame]) {
    uint64_t ts[2] = {};
    if (df_->vkGetQueryPoolResults(dev_, queries_, 2 * frame, 2, sizeof ts, ts, sizeof(uint64_t), VK_QUERY_RESULT_64_BIT) == VK_SUCCESS)
      last_gpu_ms_ = double(ts[1] - ts[0]) * ns_per_tick_ / 1e6;
  }

  const std::vector<canvas::Mesh>& lods = w_->lods_;
  if (base_version_ != w_->mesh_version_) {
    // A new scene is rare: waiting for the frames in flight is simpler than buffering geometry.
    df_->vkDeviceWaitIdle(dev_);
    free_buffer(base_);
    size_t total = 0;
    lod_offset_.clear();
    for (auto& m : lods) {
      lod_offset_.push_back(uint32_t(total));
      total += m.instances.size();
    }
    if (make_buffer(base_, total * sizeof(canvas::Instance), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT))
      for (size_t k = 0; k < lods.size(); ++k)
        if (!lods[k].instances.empty())
          std::memcpy(static_cast<canvas::Instance*>(base_.map) + lod_offset_[k], lods[k].instances.data(),
                      lods[k].instances.size() * sizeof(canvas::Instance));
    base_version_ = w_->mesh_version_;
  }
  Buffer& over = overlay_[frame];
  VkDeviceSize over_bytes = w_->overlay_.size() * sizeof(canvas::Instance);
  if (over.size < over_bytes || !over.buf) {
    free_buffer(over);
    make_buffer(over, std::max<VkDeviceSize>(over_bytes * 2, 64 * 64), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT);
  }
  if (over_bytes) std::memcpy(over.map, w_->overlay_.data(), over_bytes);

  if (queries_) {
    df_->vkCmdResetQueryPool(cb, queries_, 2 * frame, 2);
    df_->vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 2 * frame);
  }
  const QSize size = w_->swapChainImageSize();
  const canvas::Rgba bg = w_->theme_.desk;
  const bool probe = w_->grab_probe_.probing;
  VkClearValue clear[3] = {};
  clear[0].color = {{bg.r / 255.f, bg.g / 255.f, bg.b / 255.f, 1.f}};
  if (probe) std::copy(std::begin(kGrabProbeClear), std::end(kGrabProbeClear), clear[0].color.float32);
  clear[1].depthStencil = {1, 0};
  clear[2].color = clear[0].color;
  VkRenderPassBeginInfo rp{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  rp.renderPass = w_->defaultRenderPass();
  rp.framebuffer = w_->currentFramebuffer();
  rp.renderArea.extent = {uint32_t(size.width()), uint32_t(size.height())};
  rp.clearValueCount = w_->sampleCountFlagBits() > VK_SAMPLE_COUNT_1_BIT ? 3 : 2;
  rp.pClearValues = clear;
  df_->vkCmdBeginRenderPass(cb, &rp, VK_SUBPASS_CONTENTS_INLINE);

  if (pipeline_ && size.width() > 0 && size.height() > 0 && !probe) {
    VkViewport viewport{0, 0, float(size.width()), float(size.height()), 0, 1};
    df_->vkCmdSetViewport(cb, 0, 1, &viewport);
    VkRect2D scissor{{0, 0}, {uint32_t(size.width()), uint32_t(size.height())}};
    df_->vkCmdSetScissor(cb, 0, 1, &scissor);
    df_->vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_GRAPHICS, pipeline_);
    df_->vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_GRAPHICS, layout_, 0, 1, &set_, 0, nullptr);
    // The swap chain is in device pixels; the view (zoom, window coordinates) in logical ones.
    double zoom = w_->zoom_ * w_->devicePixelRatio();
    PushView pv{{float(w_->center_.x()), float(w_->center_.y())},
                {float(2 * zoom / size.width()), float(2 * zoom / size.height())},
                float(zoom)};
    df_->vkCmdPushConstants(cb, layout_, VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof pv, &pv);
    VkDeviceSize offset = 0;
    int lod = w_->level_of_detail();
    if (lod < int(lods.size()) && !lods[lod].instances.empty()) {
      df_->vkCmdBindVertexBuffers(cb, 0, 1, &base_.buf, &offset);
      for (auto [first, count] : canvas::visible_ranges(lods[lod], w_->visible_scene_rect(4)))
        df_->vkCmdDraw(cb, 4, count, 0, lod_offset_[lod] + first);
    }
    if (!w_->overlay_.empty()) {
      df_->vkCmdBindVertexBuffers(cb, 0, 1, &over.buf, &offset);
      df_->vkCmdDraw(cb, 4, uint32_t(w_->overlay_.size()), 0, 0);
    }
  }
  df_->vkCmdEndRenderPass(cb);
  if (queries_) {
    df_->vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 2 * frame + 1);
    query_written_[frame] = true;
  }
  double cpu_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  w_->frameReady();
  emit w_->frame_time(cpu_ms + last_gpu_ms_);
}

// ---------------------------------------------------------------------------------------------

DiagramCanvas::DiagramCanvas(QWindow* parent) : QVulkanWindow(parent) {
  // UNORM first: the theme's colours are sRGB values already and must reach the screen as they are.
  setPreferredColorFormats({VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM});
}

DiagramCanvas::~DiagramCanvas() = default;

QString DiagramCanvas::vulkan_problem(QVulkanInstance& instance) {
  if (!instance.isValid() && !instance.create())
    return QStringLiteral("Vulkan is not available (could not create an instance, error %1). Install a Vulkan driver "
                          "(e.g. mesa-vulkan-drivers) and check VK_ICD_FILENAMES.")
        .arg(int(instance.errorCode()));
  uint32_t n = 0;
  instance.functions()->vkEnumeratePhysicalDevices(instance.vkInstance(), &n, nullptr);
  if (n == 0)
    return QStringLiteral("Vulkan found no device. Install a Vulkan driver (e.g. mesa-vulkan-drivers for the CPU "
                          "device lavapipe) and check VK_ICD_FILENAMES.");
  // QVulkanWindow takes the first device. A CPU device (lavapipe) compiles its shaders through LLVM's
  // C API; LibTorch 2.6 (Debian 13) embeds an LLVM of its own and exports that API, and lavapipe's
  // calls, resolved in the whole process, reach it and crash in vkCreateDevice. Said, not crashed.
  std::vector<VkPhysicalDevice> devices(n);
  instance.functions()->vkEnumeratePhysicalDevices(instance.vkInstance(), &n, devices.data());
  VkPhysicalDeviceProperties props{};
  instance.functions()->vkGetPhysicalDeviceProperties(devices[0], &props);
  if (props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
    Dl_info where{};
    void* sym = dlsym(RTLD_DEFAULT, "LLVMCloneModule");
    if (sym && dladdr(sym, &where) && where.dli_fname) {
      const QString lib = QFileInfo(QString::fromLocal8Bit(where.dli_fname)).fileName();
      if (!lib.startsWith("libLLVM"))
        return QStringLiteral("the Vulkan device %1 is a CPU driver that compiles shaders with LLVM, and %2 in this "
                              "process exports the C API of an LLVM it embeds (LibTorch 2.6 does): the driver's "
                              "calls would reach that LLVM and crash while creating the device. The studio itself "
                              "never loads LibTorch (its engine is a process of its own): do not preload it, or "
                              "use a GPU's Vulkan driver.")
            .arg(QString::fromUtf8(props.deviceName), lib);
    }
  }
  return {};
}

QVulkanWindowRenderer* DiagramCanvas::createRenderer() { return new CanvasRenderer(this); }

void DiagramCanvas::set_scene(circuit::diagram::Scene scene) {
  scene_ = std::move(scene);
  have_scene_ = true;
  // Keep only what still exists, so a deleted node cannot stay selected.
  std::set<std::string> nodes;
  for (auto& b : scene_.boxes) nodes.insert(b.node);
  for (auto& f : scene_.fences) nodes.insert(f.node);
  std::set<std::string> kept;
  for (auto& n : selection_)
    if (nodes.count(n)) kept.insert(n);
  bool lost = kept.size() != selection_.size();
  selection_ = std::move(kept);
  if (!nodes.count(hover_)) hover_.clear();
  rebuild_mesh();
  if (!framed_ && width() > 0 && height() > 0) {
    frame_all();
    framed_ = true;
  }
  changed();
  if (lost) emit_selection();
}

void DiagramCanvas::set_dark(bool dark) {
  if (dark == theme_.dark) return;
  theme_ = dark ? Theme::dark_theme() : Theme::light();
  rebuild_mesh();
  changed();
}

void DiagramCanvas::frame_all() {
  double w = std::max(1.0, scene_.width), h = std::max(1.0, scene_.height);
  double margin = 24;
  double zx = (std::max(1, width()) - 2 * margin) / w, zy = (std::max(1, height()) - 2 * margin) / h;
  zoom_ = std::clamp(std::min(zx, zy), kMinZoom, 2.0);
  center_ = {w / 2, h / 2};
  user_view_ = false;
  changed();
}

void DiagramCanvas::set_selection(const std::set<std::string>& nodes) {
  if (nodes == selection_) return;
  selection_ = nodes;
  changed();
}

std::string DiagramCanvas::node_at(QPointF window_pos) const { return canvas::node_at(scene_, pt(to_scene(window_pos))); }

QPointF DiagramCanvas::to_scene(QPointF p) const { return (p - QPointF(width() / 2.0, height() / 2.0)) / zoom_ + center_; }

QPointF DiagramCanvas::to_window(QPointF p) const { return (p - center_) * zoom_ + QPointF(width() / 2.0, height() / 2.0); }

void DiagramCanvas::set_view(double zoom, QPointF center) {
  zoom_ = std::clamp(zoom, kMinZoom, kMaxZoom);
  center_ = center;
  framed_ = true, user_view_ = true;
  changed();
}

QImage DiagramCanvas::grab_image() {
  if (!isExposed() || !supportsGrab()) return {};
  rebuild_overlay();
  QImage img = grab_probe_.true_colours(grab(), [this] { return grab(); });
  requestUpdate();  // the window may show the probe's frame
  return img.convertToFormat(QImage::Format_RGB32);
}

circuit::diagram::Rect DiagramCanvas::visible_scene_rect(double margin_px) const {
  QPointF a = to_scene({-margin_px, -margin_px}), b = to_scene({width() + margin_px, height() + margin_px});
  return {a.x(), a.y(), b.x() - a.x(), b.y() - a.y()};
}

void DiagramCanvas::rebuild_mesh() {
  lods_.clear();
  for (auto& detail : lod_details()) lods_.push_back(canvas::build_mesh(scene_, theme_, canvas::GlyphAtlas::shared(), detail));
  ++mesh_version_;
}

int DiagramCanvas::level_of_detail() const {
  double z = zoom_ * devicePixelRatio();
  if (z >= kTextZoom) return 0;
  if (z >= kFarZoom) return 1;
  int k = 0;  // the coarsest level whose cell is still at most a pixel
  while (k + 1 < kFarLevels && std::ldexp(1 / kFarZoom, k + 1) * z <= 1) ++k;
  return 2 + k;
}

void DiagramCanvas::rebuild_overlay() {
  overlay_.clear();
  const auto& atlas = canvas::GlyphAtlas::shared();
  canvas::add_highlights(overlay_, scene_, theme_, atlas, selection_, hover_);
  canvas::MeshBuilder mb(overlay_, atlas);
  double px = 1 / zoom_;
  if (drag_ == Drag::band) {
    QPointF a = to_scene(press_pos_), b = to_scene(last_pos_);
    canvas::Rgba fill = theme_.accent;
    fill.a = 40;
    mb.rect({std::min(a.x(), b.x()), std::min(a.y(), b.y()), std::abs(a.x() - b.x()), std::abs(a.y() - b.y())}, 0, fill, theme_.accent,
            px);
  } else if (drag_ == Drag::connect) {
    // A rubber wire leaving the box the way wires leave it: from the edge the drag started at.
    QPointF a = to_scene(press_pos_), b = to_scene(last_pos_);
    circuit::diagram::WireItem w;
    double dx = (b.x() - a.x()) / 2, dy = (b.y() - a.y()) / 2;
    bool vertical = std::abs(dy) >= std::abs(dx);
    w.pts = {pt(a), vertical ? circuit::diagram::Point{a.x(), a.y() + dy} : circuit::diagram::Point{a.x() + dx, a.y()},
             vertical ? circuit::diagram::Point{b.x(), b.y() - dy} : circuit::diagram::Point{b.x() - dx, b.y()}, pt(b)};
    mb.polyline(canvas::tessellate(w, 0.3 * px), 2 * px, theme_.accent, 6 * px, 4 * px);
  }
}

void DiagramCanvas::changed() {
  rebuild_overlay();
  requestUpdate();
}

void DiagramCanvas::emit_selection() {
  QStringList list;
  for (auto& n : selection_) list << QString::fromStdString(n);
  emit selection_changed(list);
}

void DiagramCanvas::exposeEvent(QExposeEvent* e) {
  if (isExposed() && have_scene_ && !framed_ && width() > 0) {
    frame_all();
    framed_ = true;
  }
  QVulkanWindow::exposeEvent(e);
}

void DiagramCanvas::resizeEvent(QResizeEvent* e) {
  // Until the user zooms or pans, the diagram follows the canvas: the first frame often happens at
  // a provisional size, before the window is laid out on the screen, and left the diagram small.
  if (have_scene_ && (!framed_ || !user_view_) && width() > 0 && height() > 0) {
    frame_all();
    framed_ = true;
  }
  QVulkanWindow::resizeEvent(e);
  changed();
}

void DiagramCanvas::wheelEvent(QWheelEvent* e) {
  // Zoom about the cursor: the scene point under it stays under it.
  QPointF pos = e->position();
  QPointF anchor = to_scene(pos);
  double steps = e->angleDelta().y() != 0 ? e->angleDelta().y() : e->pixelDelta().y();
  zoom_ = std::clamp(zoom_ * std::pow(1.0015, steps), kMinZoom, kMaxZoom);
  center_ = anchor - (pos - QPointF(width() / 2.0, height() / 2.0)) / zoom_;
  framed_ = true, user_view_ = true;
  changed();
  e->accept();
}

void DiagramCanvas::mousePressEvent(QMouseEvent* e) {
  press_pos_ = last_pos_ = e->position();
  if (e->button() == Qt::MiddleButton || (e->button() == Qt::LeftButton && space_held_)) {
    drag_ = Drag::pan;
    setCursor(Qt::ClosedHandCursor);
    return;
  }
  if (e->button() != Qt::LeftButton) return;
  QPointF s = to_scene(e->position());
  const circuit::diagram::BoxItem* box = canvas::box_at(scene_, pt(s));
  if (box) {
    // The edge region is a few pixels wide whatever the zoom, never more than a third of the box.
    double edge = std::min(8 / zoom_, std::min(box->r.w, box->r.h) / 3);
    bool on_edge = s.x() > box->r.right() - edge || s.y() > box->r.bottom() - edge;
    if (on_edge || (e->modifiers() & Qt::AltModifier)) {
      drag_ = Drag::connect;
      connect_from_ = box->node;
      changed();
      return;
    }
  }
  std::string hit = canvas::node_at(scene_, pt(s));
  bool toggle = e->modifiers() & (Qt::ControlModifier | Qt::ShiftModifier);
  if (!hit.empty()) {
    drag_ = Drag::click;
    if (toggle) {
      if (!selection_.erase(hit)) selection_.insert(hit);
    } else if (!selection_.count(hit)) {
      selection_ = {hit};
    }
    changed();
    emit_selection();
    return;
  }
  drag_ = Drag::band;
  band_toggle_ = toggle;
  band_base_ = toggle ? selection_ : std::set<std::string>{};
}

void DiagramCanvas::mouseMoveEvent(QMouseEvent* e) {
  QPointF pos = e->position();
  QPointF delta = pos - last_pos_;
  last_pos_ = pos;
  switch (drag_) {
    case Drag::pan:
      center_ -= delta / zoom_;
      user_view_ = true;
      changed();
      return;
    case Drag::band:
    case Drag::connect:
      hover_ = drag_ == Drag::connect ? node_at(pos) : std::string();
      changed();
      return;
    default: {
      std::string h = node_at(pos);
      if (h != hover_) {
        hover_ = h;
        changed();
      }
    }
  }
}

void DiagramCanvas::mouseReleaseEvent(QMouseEvent* e) {
  Drag d = drag_;
  drag_ = Drag::none;
  QPointF pos = e->position();
  if (d == Drag::pan) {
    unsetCursor();
  } else if (d == Drag::band) {
    QPointF a = to_scene(press_pos_), b = to_scene(pos);
    bool moved = (pos - press_pos_).manhattanLength() > 3;
    std::set<std::string> next = band_base_;
    if (moved) {
      auto in = canvas::nodes_in(scene_, {std::min(a.x(), b.x()), std::min(a.y(), b.y()), std::abs(a.x() - b.x()), std::abs(a.y() - b.y())});
      next.insert(in.begin(), in.end());
    }
    if (next != selection_) {
      selection_ = std::move(next);
      emit_selection();
    }
  } else if (d == Drag::connect) {
    std::string to = node_at(pos);
    if (!to.empty() && to != connect_from_)
      emit connect_requested(QString::fromStdString(connect_from_), QString::fromStdString(to));
    connect_from_.clear();
  }
  changed();
}

void DiagramCanvas::mouseDoubleClickEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  std::string n = node_at(e->position());
  if (!n.empty()) emit node_activated(QString::fromStdString(n));
}

void DiagramCanvas::keyPressEvent(QKeyEvent* e) {
  switch (e->key()) {
    case Qt::Key_Space:
      if (!e->isAutoRepeat()) space_held_ = true;
      break;
    case Qt::Key_Escape:
      if (!selection_.empty()) {
        selection_.clear();
        changed();
        emit_selection();
      }
      break;
    case Qt::Key_Delete:
    case Qt::Key_Backspace:
      emit delete_requested();
      break;
    case Qt::Key_F:
      frame_all();
      break;
    default:
      QVulkanWindow::keyPressEvent(e);
  }
}

void DiagramCanvas::keyReleaseEvent(QKeyEvent* e) {
  if (e->key() == Qt::Key_Space && !e->isAutoRepeat()) space_held_ = false;
  QVulkanWindow::keyReleaseEvent(e);
}

bool DiagramCanvas::event(QEvent* e) {
  // No move event comes once the pointer has left, so the last box it was over would stay lit.
  if (e->type() == QEvent::Leave && !hover_.empty()) {
    hover_.clear();
    changed();
  }
  // Palette drags: QWindow has no drag handlers to override, the events come through here.
  if (e->type() == QEvent::DragEnter || e->type() == QEvent::DragMove) {
    auto* d = static_cast<QDropEvent*>(e);
    if (!d->mimeData()->hasFormat(kDropMime)) return QVulkanWindow::event(e);
    d->acceptProposedAction();
    std::string over = node_at(d->position());
    if (over != hover_) hover_ = over, changed();  // shows where the node would attach
    return true;
  }
  if (e->type() == QEvent::Drop) {
    auto* d = static_cast<QDropEvent*>(e);
    if (!d->mimeData()->hasFormat(kDropMime)) return QVulkanWindow::event(e);
    d->acceptProposedAction();
    emit drop_requested(QString::fromUtf8(d->mimeData()->data(kDropMime)), QString::fromStdString(node_at(d->position())),
                        to_scene(d->position()));
    return true;
  }
  return QVulkanWindow::event(e);
}

}  // namespace studio
