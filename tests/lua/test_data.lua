-- Data sets: IDX (raw and gzip), CIFAR binary, image folders, Fashion-MNIST
-- from the Debian package; bad files give errors naming the file; subsets,
-- loaders and augmentation are deterministic.
local lu = require "luaunit"
local rp = require "realprune"

local H = require "tests.lua.helpers" -- the suites run from the source folder
local dir, path = H.scratch()
local write = H.write
local read = H.read

local function idx_images(n, h, w, fill)
  local parts = {string.pack(">I4I4I4I4", 0x803, n, h, w)}
  for i = 1, n * h * w do parts[#parts + 1] = string.char(fill(i) % 256) end
  return table.concat(parts)
end

local function idx_labels(list)
  local parts = {string.pack(">I4I4", 0x801, #list)}
  for _, l in ipairs(list) do parts[#parts + 1] = string.char(l) end
  return table.concat(parts)
end

local FMNIST = "/usr/share/datasets/fashion-mnist"

TestIdx = {}

function TestIdx:test_small_idx_and_normalization()
  write(path("img"), idx_images(4, 2, 3, function(i) return i * 10 end))
  write(path("lab"), idx_labels{0, 1, 2, 1})
  local ds = rp.data.idx{images = path("img"), labels = path("lab"), mean = {0.5}, std = {0.25}}
  lu.assertEquals(#ds, 4)
  lu.assertEquals(ds:shape(), {1, 2, 3})
  lu.assertEquals(ds:labels(), {1, 2, 3, 2})
  lu.assertEquals(ds.classes, 3)
  local x, y = ds:batch{2}
  lu.assertEquals(y, {2})
  lu.assertAlmostEquals(x:get(1, 1, 1, 1), (70 / 255 - 0.5) / 0.25, 1e-5)
  -- gzip is read transparently
  assert(os.execute("gzip -c " .. path("img") .. " > " .. path("img.gz")))
  local gz = rp.data.idx{images = path("img.gz"), labels = path("lab")}
  lu.assertEquals(gz:batch{3}:totable(), rp.data.idx{images = path("img"),
    labels = path("lab"), mean = gz.mean, std = gz.std}:batch{3}:totable())
end

function TestIdx:test_bad_files()
  local good = idx_images(4, 2, 3, function(i) return i end)
  write(path("lab"), idx_labels{0, 1, 2, 1})
  local function try(content) write(path("bad"), content)
    return function() rp.data.idx{images = path("bad"), labels = path("lab")} end end
  lu.assertErrorMsgContains(path("bad")
    .. ": the header promises 24 bytes of data (4x2x3), the file holds 20",
    try(good:sub(1, #good - 4)))
  lu.assertErrorMsgContains(path("bad") .. ": not an IDX file", try("\1\2\3\4garbage"))
  lu.assertErrorMsgContains(path("bad") .. ": too short for an IDX file", try("\0\0"))
  lu.assertErrorMsgContains("element type 0x0d is not supported",
    try(string.pack(">I4I4", 0x0d01, 0)))
  -- absurd sizes: never allocated, reported against the file size
  lu.assertErrorMsgContains(path("bad") .. ": the header promises",
    try(string.pack(">I4I4I4I4", 0x803, 0xffffffff, 0xffffffff, 0xffffffff) .. "abc"))
  write(path("lab5"), idx_labels{0, 1, 2, 1, 0})
  write(path("img4"), good)
  lu.assertErrorMsgContains("has 4 images but " .. path("lab5") .. " has 5 labels", function()
    rp.data.idx{images = path("img4"), labels = path("lab5")}
  end)
  lu.assertErrorMsgContains("cannot open " .. path("nope"), function()
    rp.data.idx{images = path("nope"), labels = path("lab")}
  end)
  lu.assertErrorMsgContains("images must have 3 or 4 dimensions", function()
    rp.data.idx{images = path("lab"), labels = path("lab")}
  end)
  -- a gzip stream cut short
  local gz = read(FMNIST .. "/t10k-labels-idx1-ubyte.gz")
  write(path("cut.gz"), gz:sub(1, #gz // 2))
  lu.assertErrorMsgContains(path("cut.gz") .. " is corrupt or truncated", function()
    rp.data.idx{images = path("img4"), labels = path("cut.gz")}
  end)
end

-- Every prefix of an IDX header (1 to 4 dimensions) is refused as too short
-- or truncated, never read past its end.
function TestIdx:test_truncated_headers_of_every_length()
  write(path("lab1"), idx_labels{0})
  for ndim = 1, 4 do
    local dims = {}
    for d = 1, ndim do dims[d] = 1 end
    local file = string.pack(">I4", 0x800 + ndim) .. string.pack(">" .. ("I4"):rep(ndim),
      table.unpack(dims)) .. "\7"
    local header = 4 + 4 * ndim
    for len = 0, header - 1 do
      write(path("cut"), file:sub(1, len))
      local ok, err = pcall(rp.data.idx, {images = path("cut"), labels = path("lab1")})
      lu.assertFalse(ok)
      local want = len < 4 and "too short for an IDX file" or "truncated IDX header"
      lu.assertStrContains(err, path("cut") .. ": " .. want,
        ("ndim %d, %d bytes"):format(ndim, len))
    end
    -- the whole header but no data: the sizes are read and compared
    write(path("cut"), file:sub(1, header))
    local _, err = pcall(rp.data.idx, {images = path("cut"), labels = path("lab1")})
    lu.assertStrContains(err, "the header promises 1 bytes of data")
  end
end

TestCifar = {}

function TestCifar:test_binary_batches()
  local root = path("cifar")
  os.execute("mkdir -p " .. root)
  local function batch(n, first_label)
    local parts = {}
    for i = 1, n do
      parts[#parts + 1] = string.char((first_label + i) % 10) .. string.rep(string.char(i), 3072)
    end
    return table.concat(parts)
  end
  for b = 1, 5 do write(root .. "/data_batch_" .. b .. ".bin", batch(3, b)) end
  write(root .. "/test_batch.bin", batch(2, 0))
  local train = rp.data.cifar10{split = "train", root = root}
  lu.assertEquals(#train, 15)
  lu.assertEquals(train:shape(), {3, 32, 32})
  lu.assertEquals(train:label(1), (1 + 1) % 10 + 1)
  local test = rp.data.cifar10{split = "test", root = root}
  lu.assertEquals(#test, 2)
  write(root .. "/test_batch.bin", batch(2, 0):sub(1, 5000))
  lu.assertErrorMsgContains(root
    .. "/test_batch.bin: 5000 bytes is not a whole number of 3073-byte",
    function() rp.data.cifar10{split = "test", root = root} end)
  lu.assertErrorMsgContains("split must be \"train\" or \"test\"", function()
    rp.data.cifar10{split = "valid", root = root}
  end)
  -- every length that is not a whole number of records, up to two records
  -- and one byte, for CIFAR-10 (1 label byte) and CIFAR-100 (2)
  for _, label_bytes in ipairs{1, 2} do
    local rec = label_bytes + 3072
    local two = batch(2, 0):sub(1, 1):rep(2 * rec + 1)
    for len = 1, 2 * rec + 1 do
      if len % rec ~= 0 then
        write(path("cut.bin"), two:sub(1, len))
        local images = rp.core.cifar_read(path("cut.bin"), label_bytes)
        lu.assertNil(images, ("%d bytes, %d label bytes"):format(len, label_bytes))
        local _, err = rp.core.cifar_read(path("cut.bin"), label_bytes)
        lu.assertStrContains(err, ("%d bytes is not a whole number of %d-byte CIFAR records")
          :format(len, rec))
      end
    end
  end
end

TestImageFolder = {}

-- A 24-bit BMP of w x h pixels, colour from f(x, y) -> r, g, b.
local function bmp(w, h, f)
  local row = (w * 3 + 3) // 4 * 4
  local px = {}
  for y = h - 1, 0, -1 do
    local line = {}
    for x = 0, w - 1 do
      local r, g, b = f(x, y)
      line[#line + 1] = string.char(b, g, r)
    end
    px[#px + 1] = table.concat(line) .. string.rep("\0", row - w * 3)
  end
  local data = table.concat(px)
  return "BM" .. string.pack("<I4I2I2I4", 54 + #data, 0, 0, 54) ..
    string.pack("<I4i4i4I2I2I4I4i4i4I4I4", 40, w, h, 1, 24, 0, #data, 2835, 2835, 0, 0) .. data
end

function TestImageFolder:test_classes_and_resize()
  local root = path("images")
  os.execute("mkdir -p " .. root .. "/cat " .. root .. "/dog")
  write(root .. "/cat/a.bmp", bmp(8, 8, function() return 255, 0, 0 end))
  write(root .. "/cat/b.BMP", bmp(4, 6, function() return 255, 0, 0 end))
  write(root .. "/dog/c.bmp", bmp(16, 16, function(x) return 0, x < 8 and 0 or 255, 255 end))
  write(root .. "/dog/notes.txt", "not an image")
  local ds = rp.data.image_folder{root = root, size = 4}
  lu.assertEquals(#ds, 3)
  lu.assertEquals(ds.class_names, {"cat", "dog"})
  lu.assertEquals(ds:labels(), {1, 1, 2})
  local x = ds:normalize({0, 0, 0}, {1, 1, 1}):batch{1, 3}
  lu.assertAlmostEquals(x:get(1, 1, 2, 2), 1.0, 1e-6)  -- red channel of a red image
  lu.assertAlmostEquals(x:get(1, 2, 2, 2), 0.0, 1e-6)
  lu.assertAlmostEquals(x:get(2, 2, 1, 1), 0.0, 1e-6)  -- left half of the dog: no green
  lu.assertAlmostEquals(x:get(2, 2, 1, 4), 1.0, 1e-6)
  write(root .. "/dog/broken.png", "\137PNG\r\n\26\n broken")
  lu.assertErrorMsgContains(root .. "/dog/broken.png: not a readable image", function()
    rp.data.image_folder{root = root, size = 4}
  end)
  lu.assertErrorMsgContains("cannot open directory " .. path("none"), function()
    rp.data.image_folder{root = path("none")}
  end)
end

-- inputs that once crashed a reader under the fuzzer (tests/fuzz/regressions)
function TestImageFolder:test_fuzz_regressions_are_clean_errors()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"
  local regressions = here .. "/../fuzz/regressions"
  local n = 0
  for _, e in ipairs(rp.core.list_dir(regressions) or {}) do
    if e.name:match("^image") then
      -- the fuzz harness drops the first byte (its parameters)
      local f = assert(io.open(e.path, "rb"))
      local bytes = f:read("a"):sub(2)
      f:close()
      write(path("regression.img"), bytes)
      -- either a clean error naming the file or a correct 3x8x8 image; never a crash
      local img, err = rp.core.image_read(path("regression.img"), 3, 8)
      if img then
        lu.assertEquals(#img, 3 * 8 * 8, e.name)
      else
        lu.assertStrContains(err, path("regression.img"))
      end
      n = n + 1
    end
  end
  lu.assertTrue(n >= 4)
end

-- Headers that claim far more than the file holds are refused before anything
-- is allocated for them (found by the fuzzer: stb_image grew a buffer to 2 GB for
-- a PNG chunk length, and decoded 57-byte BMPs claiming millions of rows).
function TestImageFolder:test_headers_claiming_too_much()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"
  for name, want in pairs{["image-png-chunk-past-end.png"] = "a PNG chunk runs past the end",
                          ["image-bmp-claims-2m-rows.bmp"] = "72x2097155 pixels claimed by a " ..
                            "57-byte file",
                          -- a top-down BMP: stb_image's info gives its height as negative
                          ["image-bmp-top-down-16m-rows.bmp"] = "33x16775090 pixels claimed by " ..
                            "a 56-byte file"} do
    local f = assert(io.open(here .. "/../fuzz/regressions/" .. name, "rb"))
    write(path("claims.img"), f:read("a"):sub(2))
    f:close()
    local img, err = rp.core.image_read(path("claims.img"), 1, 4)
    lu.assertNil(img)
    lu.assertStrContains(err, path("claims.img") .. ": not a readable image (" .. want)
  end
end

TestFashionMnist = {}

function TestFashionMnist:test_debian_package()
  local train = rp.data.fashion_mnist{split = "train"}
  local test = rp.data.fashion_mnist{split = "test"}
  lu.assertEquals(#train, 60000)
  lu.assertEquals(#test, 10000)
  lu.assertEquals(train:shape(), {1, 28, 28})
  lu.assertEquals(train.classes, 10)
  local counts = {}
  for _, l in ipairs(test:labels()) do counts[l] = (counts[l] or 0) + 1 end
  for c = 1, 10 do lu.assertEquals(counts[c], 1000) end
  lu.assertErrorMsgContains("no train-images-idx3-ubyte(.gz)", function()
    rp.data.fashion_mnist{root = path("empty")}
  end)
end

function TestFashionMnist:test_subset_is_stratified_and_seeded()
  local test = rp.data.fashion_mnist{split = "test"}
  local s = test:subset(300, 7)
  lu.assertEquals(#s, 300)
  local counts = {}
  for _, l in ipairs(s:labels()) do counts[l] = (counts[l] or 0) + 1 end
  for c = 1, 10 do lu.assertEquals(counts[c], 30) end
  lu.assertEquals(test:subset(300, 7):labels(), s:labels())
  lu.assertNotEquals(test:subset(300, 8).index, s.index)
  local odd = test:subset(17)
  local n = 0
  for _, l in ipairs(odd:labels()) do n = n + 1 end
  lu.assertEquals(n, 17)
  lu.assertErrorMsgContains("n must be an integer in 1..10000", function() test:subset(0) end)
end

function TestFashionMnist:test_loader_order_and_augmentation()
  local ds = rp.data.fashion_mnist{split = "test"}:subset(100)
  local loader = ds:loader{batch_size = 32, shuffle = true, seed = 5,
    augment = {pad = 2, flip = true}}
  lu.assertEquals(#loader, 4)
  local function epoch_labels(e)
    local all = {}
    for x, y, b in loader:epoch(e) do
      lu.assertEquals(x:size(1), #y)
      for _, l in ipairs(y) do all[#all + 1] = l end
    end
    return all
  end
  local a, b = epoch_labels(1), epoch_labels(1)
  lu.assertEquals(a, b)
  lu.assertEquals(#a, 100)
  lu.assertNotEquals(epoch_labels(2), a)
  -- augmentation is seeded: the same epoch gives the same pixels
  local first = loader:epoch(3)()
  local sum1 = first:sum()
  lu.assertEquals(loader:epoch(3)():sum(), sum1)
  local plain = ds:loader{batch_size = 32, drop_last = true}
  lu.assertEquals(#plain, 3)
  lu.assertErrorMsgContains("batch_size must be a positive integer", function()
    ds:loader{batch_size = 0}
  end)
end

local rc = lu.LuaUnit.run()
os.execute("rm -rf " .. dir)
os.exit(rc)
