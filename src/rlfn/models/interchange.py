"""What an exported model file says about itself, shared by the writer (:mod:`rlfn.perf.export`) and the
runners (:mod:`rlfn.inference.backends`): the ONNX graph's input and output names, and the name of the
metadata file inside a TorchScript archive."""

INPUT_NAME, OUTPUT_NAME = "input", "output"
TORCHSCRIPT_META = "rlfn.json"  # an extra file inside a TorchScript archive
