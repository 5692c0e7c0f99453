from onshore.cli import main

raise SystemExit(main())
