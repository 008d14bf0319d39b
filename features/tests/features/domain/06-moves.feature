Feature: Moves between locations

  Background:
    Given the retail estate

  @domain-6
  Scenario: Moving all the stock there is empties the source
    Given "WH01" received a delivery of 30 "p1" at "2024-12-07T08:00:00"
    When 30 "p1" are moved from "WH01" to "Central Store" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 0.0, last updated "2024-12-07T09:00:00"
    And the stock of "p1" at "Central Store" is 30.0, last updated "2024-12-07T09:00:00"

  @domain-6 @domain-9
  Scenario: Insufficient stock records nothing on either side
    Given "WH01" received a delivery of 30 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Central Store","quantity":30.5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"InsufficientStock"}
    And the stock of "p1" at "WH01" is 30.0, last updated "2024-12-07T08:00:00"
    And the stock of "p1" at "Central Store" has never been updated

  @domain-6
  Scenario: Any positive move from a pot that never received an event fails
    When I send POST /locations/WH02/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"WH01","quantity":0.5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"InsufficientStock"}

  @domain-6
  Scenario: Pending adjustments are not considered by the stock check
    Given "Store-001" sold 5 "p1" at "2024-12-07T08:00:00"
    And "Store-001" received a delivery of 4 "p1" at "2024-12-07T09:00:00"
    When 4 "p1" are moved from "Store-001" to "store3" at "2024-12-07T10:00:00"
    Then the stock of "p1" at "Store-001" is 0.0, pending -5.0, last updated "2024-12-07T10:00:00"
    And the stock of "p1" at "store3" is 4.0, last updated "2024-12-07T10:00:00"

  @domain-6 @domain-8
  Scenario: A refused move leaves no trace: its request id is processed as new later
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"WH02","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"InsufficientStock"}
    Given "WH01" received a delivery of 5 "p1" at "2024-12-07T08:00:00"
    When I send the same request again
    Then the response status is 201
    And the stock of "p1" at "WH01" is 0.0
    And the stock of "p1" at "WH02" is 5.0

  @domain-6 @domain-8
  Scenario: A move is de-duplicated at its source only
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Store-001","quantity":4,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"m1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/Store-001/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":2,"reason":"replenishment","movedAt":"2024-12-07T11:00:00"}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "WH01" is 6.0
    And the stock of "p1" at "Store-001" is 3.0
    And the stock of "p1" at "store3" has never been updated

  @domain-6 @domain-10
  Scenario: Simultaneous opposite moves both complete
    Given "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    And "WH02" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    When ten times over, 3 "p1" moves from "WH01" to "WH02" while 2 moves back, all at the same time
    Then the stock of "p1" at "WH01" is 90.0
    And the stock of "p1" at "WH02" is 110.0

  @domain-6
  Scenario: A move between locations far apart in the estate applies both sides
    Given "DC01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When 10 "p1" are moved from "DC01" to "Café Nord" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "DC01" is 0.0
    And the stock of "p1" at "Café Nord" is 10.0
    And the total of "p1" at "UK" is 10.0
