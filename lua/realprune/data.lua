--- Data sets and batch loaders.
--
--     local train = rp.data.fashion_mnist{split = "train"}    -- 60000 x 1 x 28 x 28
--     local small = train:subset(1000)                         -- stratified by class
--     local loader = small:loader{batch_size = 128, shuffle = true, seed = 1}
--     for x, y in loader:epoch(1) do ... end                   -- x: tensor, y: {labels}
--
-- A data set keeps its images as bytes (N x C x H x W) and makes normalized
-- float batches on demand: x = (pixel / 255 - mean[c]) / std[c]. Labels are
-- 1-based class numbers. Readers check every file against its header and
-- raise an error naming the file and the problem.
--
-- Roots: Fashion-MNIST comes from Debian's dataset-fashion-mnist
-- (/usr/share/datasets/fashion-mnist); `REALPRUNE_DATA` points at another root
-- (the files directly in it, or in its fashion-mnist/ folder); CIFAR is read
-- from `REALPRUNE_DATA`/cifar-10-batches-bin and cifar-100-binary.
-- @module realprune.data

local core = require "realprune.core"
local T = require "realprune.tensor"

local data = {}

local Dataset = {}
Dataset.__index = Dataset
Dataset.__name = "realprune.Dataset"

local function fail(fn, msg, level)
  error(("rp.data.%s: %s"):format(fn, msg), (level or 1) + 1)
end

local function bytes_to_labels(s, offset)
  local out, n = {}, #s
  for i = 1, n, 4096 do
    local chunk = {s:byte(i, math.min(i + 4095, n))}
    for k = 1, #chunk do out[i + k - 1] = chunk[k] + (offset or 1) end
  end
  return out
end

--- Makes a data set from bytes: `{images=, count=, channels=, height=, width=,
-- labels= (1-based array), classes=, mean=, std=, name=}`.
function data.from_bytes(o)
  local item = o.channels * o.height * o.width
  if #o.images ~= o.count * item then
    fail("from_bytes", ("%d image bytes do not hold %d items of %dx%dx%d"):format(#o.images,
      o.count, o.channels, o.height, o.width), 2)
  end
  if #o.labels ~= o.count then
    fail("from_bytes", ("%d labels for %d images"):format(#o.labels, o.count), 2)
  end
  local classes = o.classes or 0
  for _, l in ipairs(o.labels) do if l > classes then classes = l end end
  local ds = setmetatable({
    name = o.name or "dataset",
    images = o.images, count = o.count,
    channels = o.channels, height = o.height, width = o.width,
    all_labels = o.labels, classes = classes,
    mean = o.mean, std = o.std,
  }, Dataset)
  if not ds.mean then
    ds.mean, ds.std = core.byte_stats(o.images, o.channels, o.height * o.width)
  end
  return ds
end

--- Number of samples.
function Dataset:size() return self.index and #self.index or self.count end
Dataset.__len = Dataset.size

--- The item number (1-based, in the underlying bytes) of sample i.
function Dataset:item(i) return self.index and self.index[i] or i end

--- The 1-based class of sample i.
function Dataset:label(i) return self.all_labels[self:item(i)] end

--- All labels, in sample order.
function Dataset:labels()
  local out = {}
  for i = 1, self:size() do out[i] = self:label(i) end
  return out
end

--- Sample shape {C, H, W}.
function Dataset:shape() return {self.channels, self.height, self.width} end

function Dataset:__tostring()
  return ("realprune.Dataset(%s: %d samples of %dx%dx%d, %d classes)"):format(self.name,
    self:size(), self.channels, self.height, self.width, self.classes)
end

local function view(self, index, name)
  local ds = setmetatable({}, Dataset)
  for k, v in pairs(self) do ds[k] = v end
  ds.index, ds.name = index, name or self.name
  return ds
end

--- A copy that normalizes with other per-channel `mean` and `std` (tables).
function Dataset:normalize(mean, std)
  if type(mean) ~= "table" or type(std) ~= "table" or #mean ~= self.channels or
      #std ~= self.channels then
    fail("normalize", ("mean and std must be tables of %d numbers"):format(self.channels), 2)
  end
  local ds = view(self, self.index)
  ds.mean, ds.std = mean, std
  return ds
end

--- `pad(p)`: a new data set of this one's samples (in order) with `p` rows
-- and columns of zero bytes around every image: Fashion-MNIST's 28x28
-- become 32x32 with p = 2, the input size of the CIFAR-style networks
-- (vgg11, vgg16, resnet20); its background is 0, so the images only gain
-- background. The mean and std are kept (those of the unpadded images), so
-- the old pixels normalize as before.
function Dataset:pad(p)
  if math.type(p) ~= "integer" or p < 0 or p > 64 then
    fail("pad", ("p must be an integer in 0..64, got %s"):format(tostring(p)), 2)
  end
  local C, H, W = self.channels, self.height, self.width
  local H2, W2 = H + 2 * p, W + 2 * p
  local item = C * H * W
  local side, full = ("\0"):rep(p), ("\0"):rep(W2 * p)
  local parts, labels = {}, {}
  for i = 1, self:size() do
    local it = self:item(i)
    local base = (it - 1) * item
    for c = 0, C - 1 do
      parts[#parts + 1] = full
      for y = 0, H - 1 do
        local o = base + (c * H + y) * W
        parts[#parts + 1] = side .. self.images:sub(o + 1, o + W) .. side
      end
      parts[#parts + 1] = full
    end
    labels[i] = self.all_labels[it]
  end
  return data.from_bytes{images = table.concat(parts), count = self:size(), channels = C,
    height = H2, width = W2, labels = labels, classes = self.classes, mean = self.mean,
    std = self.std, name = ("%s (padded by %d)"):format(self.name, p)}
end

--- `subset(n[, seed])`: n samples, stratified by class (each class keeps its
-- share, rounded by largest remainder), chosen at random with `seed`
-- (default 0), kept in their original order.
function Dataset:subset(n, seed)
  local size = self:size()
  if math.type(n) ~= "integer" or n < 1 or n > size then
    fail("subset", ("n must be an integer in 1..%d, got %s"):format(size, tostring(n)), 2)
  end
  local g = core.generator(seed or 0)
  local by_class, classes = {}, {}
  for i = 1, size do
    local c = self:label(i)
    if not by_class[c] then by_class[c] = {}; classes[#classes + 1] = c end
    local list = by_class[c]
    list[#list + 1] = i
  end
  table.sort(classes)
  local quota, rem, taken = {}, {}, 0
  for _, c in ipairs(classes) do
    local exact = n * #by_class[c] / size
    quota[c] = math.floor(exact)
    rem[#rem + 1] = {c = c, r = exact - quota[c]}
    taken = taken + quota[c]
  end
  table.sort(rem, function(a, b) if a.r ~= b.r then return a.r > b.r end return a.c < b.c end)
  for k = 1, n - taken do quota[rem[k].c] = quota[rem[k].c] + 1 end
  local chosen = {}
  for _, c in ipairs(classes) do
    local list = by_class[c]
    for i = #list, 2, -1 do -- Fisher-Yates, seeded
      local j = g:integer(i)
      list[i], list[j] = list[j], list[i]
    end
    for k = 1, quota[c] do chosen[#chosen + 1] = list[k] end
  end
  table.sort(chosen)
  local index = {}
  for k, i in ipairs(chosen) do index[k] = self:item(i) end
  return view(self, index, self.name)
end

--- `take(first, last)`: samples first..last, in order.
function Dataset:take(first, last)
  local size = self:size()
  last = last or size
  if math.type(first) ~= "integer" or math.type(last) ~= "integer" or first < 1 or
      last > size or first > last then
    fail("take", ("a range within 1..%d expected"):format(size), 2)
  end
  local index = {}
  for i = first, last do index[#index + 1] = self:item(i) end
  return view(self, index)
end

--- Fills `x` (a tensor of at least #samples x C x H x W) with the samples
-- listed (1-based sample numbers) and returns their labels.
function Dataset:fill(x, samples)
  local items, labels = {}, {}
  for k, i in ipairs(samples) do
    items[k] = self:item(i)
    labels[k] = self.all_labels[items[k]]
  end
  core.gather_images(x, self.images, self.channels, self.height, self.width, items, self.mean,
    self.std)
  return labels
end

--- A batch of the given samples as a new tensor, and their labels.
function Dataset:batch(samples)
  local x = T.zeros{#samples, self.channels, self.height, self.width}
  return x, self:fill(x, samples)
end

-- ----------------------------------------------------------------- Loader --

local Loader = {}
Loader.__index = Loader

--- `ds:loader{batch_size=128, shuffle=false, seed=0, augment={pad=, flip=}, drop_last=false}`.
-- Batches come from `loader:epoch(e)`; with shuffle, the order of epoch e is
-- a function of (seed, e) only, so a resumed run sees the same batches.
-- Each batch tensor is reused by the next batch: clone it to keep it.
function Dataset:loader(o)
  o = o or {}
  local bs = o.batch_size or 128
  if math.type(bs) ~= "integer" or bs < 1 then
    fail("loader", ("batch_size must be a positive integer, got %s"):format(tostring(bs)), 2)
  end
  if self:size() == 0 then fail("loader", "the data set is empty", 2) end
  local aug = o.augment
  if aug ~= nil and type(aug) ~= "table" then
    fail("loader", "augment must be a table {pad=, flip=}", 2)
  end
  return setmetatable({dataset = self, batch_size = bs, shuffle = o.shuffle or false,
    seed = o.seed or 0, augment = aug, drop_last = o.drop_last or false}, Loader)
end

--- Number of batches per epoch.
function Loader:__len()
  local n = self.dataset:size()
  return self.drop_last and n // self.batch_size or (n + self.batch_size - 1) // self.batch_size
end
Loader.batches = Loader.__len

--- Number of samples an epoch visits.
function Loader:samples()
  return self.drop_last and #self * self.batch_size or self.dataset:size()
end

--- Iterator over the batches of epoch e (1-based): `for x, y, b in loader:epoch(e)`.
function Loader:epoch(e)
  e = e or 1
  local ds, n, bs = self.dataset, self.dataset:size(), self.batch_size
  local order = {}
  for i = 1, n do order[i] = i end
  local g = core.generator(self.seed * 1000003 + e)
  if self.shuffle then
    for i = n, 2, -1 do
      local j = g:integer(i)
      order[i], order[j] = order[j], order[i]
    end
  end
  local nb, b = #self, 0
  local c, h, w = ds.channels, ds.height, ds.width
  return function()
    b = b + 1
    if b > nb then return nil end
    local first = (b - 1) * bs + 1
    local last = math.min(first + bs - 1, n)
    local count = last - first + 1
    local x
    if count == bs then
      self.full = self.full or T.zeros{bs, c, h, w}
      x = self.full
    else
      if not self.partial or self.partial:size(1) ~= count then
        self.partial = T.zeros{count, c, h, w}
      end
      x = self.partial
    end
    local samples = table.move(order, first, last, 1, {})
    local y = ds:fill(x, samples)
    if self.augment then
      core.augment(x, self.augment.pad or 0, self.augment.flip or false, g)
    end
    return x, y, b
  end
end

-- ---------------------------------------------------------------- readers --

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function find(root, names)
  for _, name in ipairs(names) do
    for _, p in ipairs{root .. "/" .. name, root .. "/" .. name .. ".gz"} do
      if exists(p) then return p end
    end
  end
  return nil
end

local function read_idx(fn, path)
  local bytes, shape = core.idx_read(path)
  if not bytes then fail(fn, shape, 3) end
  return bytes, shape
end

--- `idx{images=, labels=[, name=]}`: a data set from an IDX image file
-- (N x H x W, or N x C x H x W) and an IDX label file (raw or .gz).
function data.idx(o)
  if type(o) ~= "table" or type(o.images) ~= "string" or type(o.labels) ~= "string" then
    fail("idx", "{images = path, labels = path} expected", 2)
  end
  local img, shape = read_idx("idx", o.images)
  local lab, lshape = read_idx("idx", o.labels)
  if #shape ~= 3 and #shape ~= 4 then
    fail("idx", ("%s: images must have 3 or 4 dimensions, got %d"):format(o.images, #shape), 2)
  end
  if #lshape ~= 1 then
    fail("idx", ("%s: labels must have 1 dimension, got %d"):format(o.labels, #lshape), 2)
  end
  if lshape[1] ~= shape[1] then
    fail("idx", ("%s has %d images but %s has %d labels"):format(o.images, shape[1], o.labels,
      lshape[1]), 2)
  end
  if shape[1] == 0 then fail("idx", o.images .. " holds no images", 2) end
  local c, h, w = 1, shape[2], shape[3]
  if #shape == 4 then c, h, w = shape[2], shape[3], shape[4] end
  return data.from_bytes{name = o.name or o.images, images = img, count = shape[1], channels = c,
    height = h, width = w, labels = bytes_to_labels(lab), mean = o.mean, std = o.std,
    classes = o.classes}
end

local function split_of(fn, o)
  o = o or {}
  local split = o.split or "train"
  if split ~= "train" and split ~= "test" then
    fail(fn, ("split must be \"train\" or \"test\", got %s"):format(tostring(split)), 3)
  end
  return o, split
end

--- The data root: `REALPRUNE_DATA`, or nil.
function data.root()
  local r = os.getenv("REALPRUNE_DATA")
  if r and r ~= "" then return r end
  return nil
end

--- `fashion_mnist{split="train"|"test", root=?}`: Fashion-MNIST, 10 classes,
-- 1x28x28, normalized with mean 0.2860 and std 0.3530 (the training set's).
function data.fashion_mnist(o)
  local split
  o, split = split_of("fashion_mnist", o)
  local roots = {}
  if o.root then roots[1] = o.root
  else
    local env = data.root()
    if env then roots = {env .. "/fashion-mnist", env} end
    roots[#roots + 1] = "/usr/share/datasets/fashion-mnist"
  end
  local prefix = split == "train" and "train" or "t10k"
  for _, root in ipairs(roots) do
    local images = find(root, {prefix .. "-images-idx3-ubyte"})
    local labels = find(root, {prefix .. "-labels-idx1-ubyte"})
    if images and labels then
      return data.idx{images = images, labels = labels, name = "fashion_mnist-" .. split,
        mean = {0.2860}, std = {0.3530}, classes = 10}
    end
  end
  fail("fashion_mnist", ("no %s-images-idx3-ubyte(.gz) and %s-labels-idx1-ubyte(.gz) in %s " ..
    "(install the Debian package dataset-fashion-mnist, or set REALPRUNE_DATA)"):format(prefix,
    prefix, table.concat(roots, " or ")), 2)
end

local function cifar(fn, o, folder, files, label_bytes, classes, mean, std)
  local split
  o, split = split_of(fn, o)
  local root = o.root or ((data.root() or ".") .. "/" .. folder)
  local parts, labels, count = {}, {}, 0
  for _, f in ipairs(files[split]) do
    local path = root .. "/" .. f
    local img, lab, n = core.cifar_read(path, label_bytes)
    if not img then fail(fn, lab .. " (set REALPRUNE_DATA or root=)", 3) end
    parts[#parts + 1] = img
    for _, l in ipairs(bytes_to_labels(lab)) do labels[#labels + 1] = l end
    count = count + n
  end
  for i, l in ipairs(labels) do
    if l > classes then
      fail(fn, ("%s: label %d of record %d is out of range 1..%d"):format(root, l, i, classes), 3)
    end
  end
  return data.from_bytes{name = fn .. "-" .. split, images = table.concat(parts), count = count,
    channels = 3, height = 32, width = 32, labels = labels, classes = classes, mean = mean,
    std = std}
end

--- `cifar10{split=, root=}`: CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin).
function data.cifar10(o)
  return cifar("cifar10", o, "cifar-10-batches-bin", {
    train = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
             "data_batch_5.bin"},
    test = {"test_batch.bin"}}, 1, 10, {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616})
end

--- `cifar100{split=, root=}`: CIFAR-100 binary (train.bin, test.bin; fine labels).
function data.cifar100(o)
  return cifar("cifar100", o, "cifar-100-binary", {train = {"train.bin"}, test = {"test.bin"}},
    2, 100, {0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762})
end

--- `image_folder{root=, size=32, channels=3}`: one subfolder per class (sorted
-- names give classes 1, 2, ...), PNG/JPEG/BMP/GIF/TGA images resized to
-- size x size. `ds.class_names` lists the folders. Normalized with the data's
-- own mean and std.
function data.image_folder(o)
  if type(o) ~= "table" or type(o.root) ~= "string" then
    fail("image_folder", "{root = path, size = n} expected", 2)
  end
  local size, channels = o.size or 32, o.channels or 3
  if math.type(size) ~= "integer" or size < 1 or size > 4096 then
    fail("image_folder", "size must be an integer in 1..4096", 2)
  end
  if channels ~= 1 and channels ~= 3 then fail("image_folder", "channels must be 1 or 3", 2) end
  local entries, err = core.list_dir(o.root)
  if not entries then fail("image_folder", err, 2) end
  local parts, labels, names = {}, {}, {}
  local ext = {png = true, jpg = true, jpeg = true, bmp = true, gif = true, tga = true}
  for _, e in ipairs(entries) do
    if e.dir then
      names[#names + 1] = e.name
      local files, ferr = core.list_dir(e.path)
      if not files then fail("image_folder", ferr, 2) end
      for _, f in ipairs(files) do
        local x = f.name:match("%.([%w]+)$")
        if not f.dir and x and ext[x:lower()] then
          local bytes, ierr = core.image_read(f.path, channels, size)
          if not bytes then fail("image_folder", ierr, 2) end
          parts[#parts + 1] = bytes
          labels[#labels + 1] = #names
        end
      end
    end
  end
  if #parts == 0 then
    fail("image_folder", o.root .. " has no class folders with images", 2)
  end
  local ds = data.from_bytes{name = o.name or o.root, images = table.concat(parts),
    count = #parts, channels = channels, height = size, width = size, labels = labels,
    classes = #names}
  ds.class_names = names
  return ds
end

return data
