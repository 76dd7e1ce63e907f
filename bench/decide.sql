select bench.decide_next();
