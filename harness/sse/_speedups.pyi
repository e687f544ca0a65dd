# The compiled parser has the Python parser's interface exactly.
from harness.sse._parser import SSEParser as SSEParser
