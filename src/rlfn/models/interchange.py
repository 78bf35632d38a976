"""What an exported model file says about itself, shared by the writer (:mod:`rlfn.perf.export`) and the
runners (:mod:`rlfn.inference.backends`, :mod:`rlfn.inference.ncnn_backend`): the ONNX graph's input and output
names, the name of the metadata file inside a TorchScript archive, and the ncnn blob names."""

INPUT_NAME, OUTPUT_NAME = "input", "output"
TORCHSCRIPT_META = "rlfn.json"  # an extra file inside a TorchScript archive

# ncnn: the blob names realesrgan-ncnn-vulkan (and Upscayl's and Video2X's copies of its code) feed and read:
# ex.input("data", ...), ex.extract("output", ...) in its src/realesrgan.cpp.
NCNN_INPUT, NCNN_OUTPUT = "data", "output"
