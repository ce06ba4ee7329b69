from tui_hf.cli import main

raise SystemExit(main())
