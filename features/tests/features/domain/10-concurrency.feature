Feature: Concurrency guarantees

  Background:
    Given the retail estate

  @domain-10
  Scenario: Simultaneous sales at one pot are each applied exactly once
    Given "Store-001" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    When 20 sales of 1.5 "p1" at "Store-001" arrive at the same time
    Then the stock of "p1" at "Store-001" is 70.0, last updated "2024-12-07T12:19:00"

  @domain-10
  Scenario: Simultaneous writes to different pots proceed independently
    Given "Store-001" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    And "Central Store" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    When 10 sales of 2 "p1" at "Store-001" arrive at the same time
    And 10 sales of 3 "p1" at "Central Store" arrive at the same time
    Then the stock of "p1" at "Store-001" is 80.0
    And the stock of "p1" at "Central Store" is 70.0

  @domain-10
  Scenario: A write answered 201 is visible to the very next read
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5}]}
      """
    Then the response status is 201
    When I send GET /locations/WH01/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"WH01","productId":"p1","quantity":5.0,"lastUpdated":"2024-12-07T09:00:00"}
      """

  @domain-10
  Scenario: Reads change nothing
    Given "WH01" received a delivery of 5 "p1" at "2024-12-07T09:00:00"
    When I send GET /locations/DC01/products/p1
    And I send GET /locations/DC01/products/p1
    Then the response is 200, byte for byte the first answer
    And the stock of "p1" at "WH01" is 5.0, last updated "2024-12-07T09:00:00"

  @domain-10 @domain-6
  Scenario: Simultaneous moves from one source never take more than it holds
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When 20 moves of 1 "p1" from "WH01" to "WH02" arrive at the same time
    Then 10 of them were accepted and 10 refused with body {"status":"InsufficientStock"}
    And the stock of "p1" at "WH01" is 0.0
    And the stock of "p1" at "WH02" is 10.0

  @domain-10 @domain-8
  Scenario: The same request arriving several times at once is applied once
    Given "Store-001" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When the same sale of 2 "p1" at "Store-001" arrives 10 times at the same time
    Then all of them were accepted with the same body
    And the stock of "p1" at "Store-001" is 8.0
