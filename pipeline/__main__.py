import sys

from pipeline.cli import main
from pipeline.native_logs import native_logs_hidden

if "--debug" in sys.argv[1:]:  # the CLI's option: show everything, tracebacks included
    sys.exit(main())
with native_logs_hidden():
    code = main()
sys.exit(code)
