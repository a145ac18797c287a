from aieng.bench import main

raise SystemExit(main())
