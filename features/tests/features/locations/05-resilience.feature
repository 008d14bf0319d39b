Feature: Retries with exponential backoff and a circuit breaker, shared by all calls of a process

  The delays between attempts are measured in scenarios that run alone (tagged serial), so that
  no other scenario competes with them for the CPU.

  Background:
    Given the Location API serves the retail estate

  @locations-5 @serial
  Scenario: Two 500s then a success: exactly three calls, 100 ms then 200 ms apart
    Given the Location API answers /locations/Store-001 with 500, 500 before answering normally
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response status is 200
    And the Location API received 3 calls to /locations/Store-001
    And the calls to /locations/Store-001 came 100 and 200 ms apart

  @locations-5 @serial
  Scenario: Always 500: 502 after exactly three calls, 100 ms then 200 ms apart
    Given the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 3 calls in all
    And the calls to /locations/Store-001 came 100 and 200 ms apart

  @locations-5 @serial
  Scenario: Retry-After is not used: a 503 asking for ten seconds is retried after the usual delays
    Given the Location API always answers /locations/Store-001 with 503
    And the Location API answers /locations/Store-001 with the header "Retry-After: 10"
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the calls to /locations/Store-001 came 100 and 200 ms apart

  @locations-5 @serial
  Scenario: The delays grow by the multiplier up to the maximum delay
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "4"
    And the service setting STOCK_LOCATION_API_INITIAL_DELAY is "50ms"
    And the service setting STOCK_LOCATION_API_BACKOFF_MULTIPLIER is "3"
    And the service setting STOCK_LOCATION_API_MAX_DELAY is "200ms"
    And the Location API always answers /locations/Store-001 with 503
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the calls to /locations/Store-001 came 50, 150 and 200 ms apart

  @locations-5
  Scenario: With one attempt nothing is retried
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the Location API answers /locations/Store-001 with 500 before answering normally
    When I send GET /locations/Store-001/products/SKU1
    Then the response is 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 1 call in all

  @locations-5
  Scenario: A failure threshold below the attempt budget is refused at start-up
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "3"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    Then the service refuses to start, naming STOCK_LOCATION_API_FAILURE_THRESHOLD

  @locations-5
  Scenario: Threshold 3, always failing: nine requests make exactly three calls
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "3"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false 9 times
    Then the last 9 answers were 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 3 calls in all

  @locations-5
  Scenario: Each retry counts: a second failing request opens the breaker between its attempts and ends at once
    Given the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1 3 times
    Then the last 3 answers were 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 5 calls in all

  @locations-5
  Scenario: Threshold 2, quiet period 150 ms: a request 200 ms later is the trial, and its success closes the breaker
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    And the service setting STOCK_LOCATION_API_QUIET_PERIOD is "150ms"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false 2 times
    And the Location API answers everything normally again
    And I let 200ms pass
    And I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response status is 200
    And the Location API received 3 calls to /locations/Store-001
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false 2 times
    Then the last 2 answers were 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
    And the Location API received 5 calls to /locations/Store-001

  @locations-5
  Scenario: Attempts made while the trial is in flight are rejected without a call
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    And the service setting STOCK_LOCATION_API_QUIET_PERIOD is "150ms"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1 2 times
    And the Location API answers everything normally again
    And the Location API takes 500ms to answer /locations/Store-001
    And I let 200ms pass
    And I send GET /locations/Store-001/products/SKU1 3 times at the same time
    Then of those, 1 answered 200 and 2 answered 502
    And the Location API received 3 calls to /locations/Store-001

  @locations-5
  Scenario: A failed trial opens the breaker for another quiet period
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    And the service setting STOCK_LOCATION_API_QUIET_PERIOD is "500ms"
    And the Location API always answers /locations/Store-001 with 503
    When I send GET /locations/Store-001/products/SKU1 2 times
    And I let 600ms pass
    And I send GET /locations/Store-001/products/SKU1 2 times
    Then the last 2 answers were 502 with body {"status":"UpstreamServiceUnavailable"}
    And the Location API received 3 calls in all

  @locations-5
  Scenario: Answers that are not failures reset the count of consecutive failures
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    And the Location API always answers /locations/Store-001 with 500
    And the Location API always answers /locations/Central%20Store with 501
    When I send GET /locations/Store-001/products/SKU1
    And I send GET /locations/Atlantis/products/SKU1
    And I send GET /locations/Store-001/products/SKU1
    And I send GET /locations/Central%20Store/products/SKU1
    And I send GET /locations/Store-001/products/SKU1
    And I send GET /locations/WH01/products/SKU1
    Then the response status is 200
    And the Location API received 3 calls to /locations/Store-001
    When I send GET /locations/Store-001/products/SKU1 3 times
    Then the Location API received 5 calls to /locations/Store-001

  @locations-5 @api-10
  Scenario: Readiness shares the breaker: while it is open the Location API is down without a call
    Given the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "3"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1
    And the Location API calls so far are set aside
    And I send GET /health/ready
    Then the response is 503 with body {"status":"DOWN","checks":[{"name":"locationApi","status":"DOWN"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}
    And the Location API received no calls

  @locations-5 @observability-2 @binary
  Scenario: Breaker transitions and rejected attempts are logged at WARN
    Given the service setting STOCK_LOCATION_API_MAX_ATTEMPTS is "1"
    And the service setting STOCK_LOCATION_API_FAILURE_THRESHOLD is "2"
    And the service setting STOCK_LOCATION_API_QUIET_PERIOD is "1s"
    And the Location API always answers /locations/Store-001 with 500
    When I send GET /locations/Store-001/products/SKU1 3 times
    And the Location API answers everything normally again
    And I let 1100ms pass
    And I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    And the Location API received 3 calls to /locations/Store-001
    And the log has these WARN lines, in order:
      | circuit breaker | opened    |
      | circuit breaker | opened    |
      | circuit breaker | half-open |
      | circuit breaker | closed    |
